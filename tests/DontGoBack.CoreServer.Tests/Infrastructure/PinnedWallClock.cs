using System.Diagnostics;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// Pins the date the server sees while timers and elapsed time stay real. The resilience
/// pipeline takes its timeouts and retry delays from the same TimeProvider, so a fully
/// frozen FakeTimeProvider would stall every retry in a whole-server test; unit tests of
/// timing logic use FakeTimeProvider instead.
/// </summary>
public sealed class PinnedWallClock(DateTimeOffset now) : TimeProvider
{
    private Stopwatch? _ticking;

    public DateTimeOffset Now { get; set; } = now;

    /// <summary>From now on the clock moves on in real time from <see cref="Now"/>: for the scheduler, which waits for its fire times to come.</summary>
    public void StartTicking() => _ticking = Stopwatch.StartNew();

    public override DateTimeOffset GetUtcNow() => Now + (_ticking?.Elapsed ?? TimeSpan.Zero);
}
