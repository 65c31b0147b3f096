namespace DontGoBack.Batch.Telemetry;

/// <summary>How the engine's health checks join the host's readiness probe: the tag the probe runs, and each check's time limit.</summary>
public static class Readiness
{
    /// <summary>The tag of every check readiness runs (the host's /health/ready selects on it).</summary>
    public const string Tag = "ready";

    /// <summary>A check that takes longer (a database that does not answer) is reported Unhealthy rather than holding the probe.</summary>
    public static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);
}
