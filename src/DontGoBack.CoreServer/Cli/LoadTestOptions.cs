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
}
