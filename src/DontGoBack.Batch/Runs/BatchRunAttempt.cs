namespace DontGoBack.Batch.Runs;

/// <summary>
/// One attempt at a run, kept after later attempts replace the run's own counts: recorded when it
/// claims the run, its progress written while it works (not clustered: the partitions hold that),
/// and its outcome when it ends. An attempt whose process died stays as it last reported.
/// </summary>
public sealed class BatchRunAttempt
{
    public long RunId { get; set; }
    public int Attempt { get; set; }
    public BatchRunStatus Status { get; set; }
    public DateTimeOffset StartedAt { get; set; }

    /// <summary>The node that claimed the run for this attempt (in a cluster, its partitions name theirs).</summary>
    public string? Node { get; set; }

    /// <summary>When its counts were last written: its progress, or its outcome.</summary>
    public DateTimeOffset UpdatedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>The work it counted at its start: the users it had to process, not those it found done already.</summary>
    public int Expected { get; set; }

    /// <summary>Every user it went through: written, skipped (done already, or not due) and failed.</summary>
    public int Total { get; set; }
    public int Success { get; set; }
    public int Skipped { get; set; }
    public int Failed { get; set; }

    /// <summary>Of the skipped, ids not due on the day (e.g. an account opened later): counted, never work. Written with its outcome.</summary>
    public int NotDue { get; set; }

    /// <summary>The job's own counts of this attempt (see <see cref="BatchCounters"/>) as stored, written with its outcome; null when none.</summary>
    public string? Counters { get; set; }
    public string? Error { get; set; }

    /// <summary>
    /// It went through and found the work done already: nothing written, nothing failed. Such a pass is no
    /// work: it reads "nothing to do" and is not drawn as throughput. Judged here only: the run page, its
    /// throughput chart, the API's attempts and `runs --attempts` all ask this.
    /// </summary>
    public bool FoundNothingToDo =>
        Status is not (BatchRunStatus.Running or BatchRunStatus.Failed or BatchRunStatus.Aborted) && Counts.Processed == 0;

    /// <summary>Users processed (written or failed) per second of its own time; null when it found nothing to do, as such a pass did no work to rate.</summary>
    public double? UsersPerSecond => FoundNothingToDo ? null
        : Math.Round(Counts.Processed / Math.Max(0.001, ((FinishedAt ?? UpdatedAt) - StartedAt).TotalSeconds), 1);

    /// <summary>Its counts as its progress reads them (while it runs, as last written).</summary>
    public RunProgressCounts Counts => new(Expected, Total, Success, Skipped, Failed);
}
