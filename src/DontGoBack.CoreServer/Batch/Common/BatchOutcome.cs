namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>What the work for one range of ids did; the engine adds up the ranges and decides the run's status.</summary>
/// <param name="StoppedBecause">Why the work stopped before reaching every id (a dependency down); null when it went through.</param>
/// <param name="RebasedUsers">Users whose later days were re-based because the work wrote a day behind them (asset refresh only).</param>
/// <param name="SkippedBeforeOpening">Of the skipped, users whose account opened after the day.</param>
public sealed record BatchOutcome(
    int Total, int Success, int Skipped, int Failed, string? StoppedBecause, int RebasedUsers = 0, int RebasedDays = 0, int SkippedBeforeOpening = 0)
{
    public static readonly BatchOutcome Nothing = new(0, 0, 0, 0, null);

    /// <summary>Failed when stopped early, with failures when some ids failed, nothing to do when no id it saw was due yet, else completed.</summary>
    public BatchRunStatus Status => StatusOf(StoppedBecause is not null, Total, Failed, SkippedBeforeOpening);

    /// <summary>The one rule for a run's status from its counts, for a run worked here and for a clustered run's partitions summed.</summary>
    /// <param name="notDue">Of the ids seen, those not due on the day (opened later).</param>
    public static BatchRunStatus StatusOf(bool stoppedEarly, int total, int failed, int notDue) =>
        stoppedEarly ? BatchRunStatus.Failed
        : failed > 0 ? BatchRunStatus.CompletedWithFailures
        // An empty population is an ordinary completed day; only ids that are all not yet due make it nothing to do.
        : total > 0 && notDue >= total ? BatchRunStatus.NothingToDo
        : BatchRunStatus.Completed;

    public BatchResult ToResult(DateOnly day, BatchRunStatus status, long elapsedMs, long? runId = null, int? attempt = null) =>
        new(day, status, Total, Success, Skipped, Failed, elapsedMs, StoppedBecause, runId, attempt, RebasedUsers, RebasedDays, SkippedBeforeOpening);

    /// <summary>The sum of two ranges' outcomes; the first reason to stop wins.</summary>
    public BatchOutcome Add(BatchOutcome other) => new(
        Total + other.Total, Success + other.Success, Skipped + other.Skipped, Failed + other.Failed, StoppedBecause ?? other.StoppedBecause,
        RebasedUsers + other.RebasedUsers, RebasedDays + other.RebasedDays, SkippedBeforeOpening + other.SkippedBeforeOpening);
}
