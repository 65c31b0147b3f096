namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// Pins the date the server sees while timers and elapsed time stay real. The resilience
/// pipeline takes its timeouts and retry delays from the same TimeProvider, so a fully
/// frozen FakeTimeProvider would stall every retry in a whole-server test; unit tests of
/// timing logic use FakeTimeProvider instead.
/// </summary>
public sealed class PinnedWallClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}
