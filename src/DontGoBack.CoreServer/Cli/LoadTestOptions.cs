namespace DontGoBack.CoreServer.Cli;

/// <summary>Settings that only a load-test database may have: each allows something that would spoil a database in use.</summary>
public sealed class LoadTestOptions
{
    public const string SectionName = "LoadTest";

    /// <summary>
    /// Lets `refresh --allow-future-day` run a day after today. It writes snapshots ahead of time and
    /// moves every pointer there, so adjustments recorded later, on today, never reach the graph.
    /// </summary>
    public bool AllowFutureDays { get; set; }

    /// <summary>
    /// Moves this process's wall clock (d.hh:mm:ss, negative allowed, at most ten years): the chaos campaign starts each
    /// replica on the campaign's day, just before its cron fire (see <see cref="Hosting.LoadTestClock"/>). It makes the
    /// process write on another day than the real one: never on a database in use.
    /// </summary>
    public TimeSpan ClockOffset { get; set; }
}
