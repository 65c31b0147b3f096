namespace DontGoBack.Batch.Runs;

/// <summary>
/// One job instance: a job for one day. Re-runs of the day continue this row (Attempts counts
/// them); while running, its owner renews the lease (HeartbeatAt) so another process can tell a
/// live run from one whose process died and take it over.
/// </summary>
public sealed class BatchRun
{
    public long Id { get; set; }
    public string JobName { get; set; } = "";
    public DateOnly Day { get; set; }
    public BatchRunStatus Status { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public DateTimeOffset HeartbeatAt { get; set; }

    /// <summary>Identifies the attempt holding the lease; only it may renew or finish the run.</summary>
    public string? LeaseOwner { get; set; }

    /// <summary>Comma-separated names of the processes that worked on the run.</summary>
    public string Nodes { get; set; } = "";

    public int Attempts { get; set; }

    // Counts of the latest attempt.
    public int Total { get; set; }
    public int Success { get; set; }
    public int Skipped { get; set; }
    public int Failed { get; set; }

    /// <summary>The job's own counts of the latest attempt (see <see cref="BatchCounters"/>) as stored: a flat JSON object, null when none.</summary>
    public string? Counters { get; set; }

    /// <summary>Why the latest attempt stopped early, if it did.</summary>
    public string? Error { get; set; }

    /// <summary>
    /// Set by an operator's cancel while the run works: every process working on it sees it at its
    /// next lease renewal and stops, and the run ends aborted. The next attempt clears it.
    /// </summary>
    public DateTimeOffset? CancelRequestedAt { get; set; }

    public string? CancelReason { get; set; }

    /// <summary>Whether the day went through (with or without failed users, or with nothing to do): the schedule owes it no more.</summary>
    public bool IsThrough => Status.IsThrough();

    /// <summary>The share of the latest attempt's users that came out done (refreshed, or already done); 1 when it saw none.</summary>
    public double DoneRatio => Total == 0 ? 1 : (double)(Total - Failed) / Total;
}
