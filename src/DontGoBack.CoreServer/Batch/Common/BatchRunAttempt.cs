namespace DontGoBack.CoreServer.Batch.Common;

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

    /// <summary>The work it counted at its start.</summary>
    public int Expected { get; set; }
    public int Total { get; set; }
    public int Success { get; set; }
    public int Skipped { get; set; }
    public int Failed { get; set; }

    /// <summary>Of the skipped, ids not due on the day (e.g. an account opened later): counted, never work. Written with its outcome.</summary>
    public int NotDue { get; set; }
    public string? Error { get; set; }
}
