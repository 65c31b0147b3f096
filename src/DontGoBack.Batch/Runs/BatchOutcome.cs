namespace DontGoBack.Batch.Runs;

/// <summary>What the work for one range of ids did; the engine adds up the ranges and decides the run's status.</summary>
/// <param name="StoppedBecause">Why the work stopped before reaching every id (a dependency down); null when it went through.</param>
/// <param name="NotDue">Of the skipped, ids not due on the day (e.g. an account opened later): counted, never work.</param>
/// <param name="Counters">The job's own counts (<see cref="BatchCounters.Of{TCounters}"/>), added up and shown by the engine as the job describes them.</param>
public sealed record BatchOutcome(
    int Total, int Success, int Skipped, int Failed, string? StoppedBecause, int NotDue = 0, BatchCounters Counters = default)
{
    public static readonly BatchOutcome Nothing = new(0, 0, 0, 0, null);

    /// <summary>Failed when stopped early, with failures when some ids failed, nothing to do when no id it saw was due yet, else completed.</summary>
    public BatchRunStatus Status => StatusOf(StoppedBecause is not null, Total, Failed, NotDue);

    /// <summary>The one rule for a run's status from its counts, for a run worked here and for a clustered run's partitions summed.</summary>
    /// <param name="notDue">Of the ids seen, those not due on the day.</param>
    public static BatchRunStatus StatusOf(bool stoppedEarly, int total, int failed, int notDue) =>
        stoppedEarly ? BatchRunStatus.Failed
        : failed > 0 ? BatchRunStatus.CompletedWithFailures
        // An empty population is an ordinary completed day; only ids that are all not yet due make it nothing to do.
        : total > 0 && notDue >= total ? BatchRunStatus.NothingToDo
        : BatchRunStatus.Completed;

    public BatchResult ToResult(DateOnly day, BatchRunStatus status, long elapsedMs, long? runId = null, int? attempt = null) =>
        new(day, status, Total, Success, Skipped, Failed, elapsedMs, StoppedBecause, runId, attempt, NotDue) { Counters = Counters };

    /// <summary>The sum of two ranges' outcomes; the first reason to stop wins.</summary>
    public BatchOutcome Add(BatchOutcome other) => new(
        Total + other.Total, Success + other.Success, Skipped + other.Skipped, Failed + other.Failed, StoppedBecause ?? other.StoppedBecause,
        NotDue + other.NotDue, Counters.Add(other.Counters));
}
