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
    private long _advancedTicks;

    public DateTimeOffset Now { get; set; } = now;

    /// <summary>From now on the clock moves on in real time from <see cref="Now"/>: for the scheduler, which waits for its fire times to come.</summary>
    public void StartTicking() => _ticking = Stopwatch.StartNew();

    /// <summary>
    /// Moves the clock on at once, safely while the server reads it: time the server sees pass that no
    /// loaded machine can stretch (e.g. an extension call's latency, see <see cref="FakeExtensionServer.BeforeAnswer"/>).
    /// </summary>
    public void Advance(TimeSpan by) => Interlocked.Add(ref _advancedTicks, by.Ticks);

    public override DateTimeOffset GetUtcNow() =>
        Now + (_ticking?.Elapsed ?? TimeSpan.Zero) + TimeSpan.FromTicks(Interlocked.Read(ref _advancedTicks));
}
