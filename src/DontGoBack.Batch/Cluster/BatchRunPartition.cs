namespace DontGoBack.Batch.Cluster;

/// <summary>A slice of a clustered run's users (an id range) that any node may process; the run is finalised when none is pending.</summary>
public sealed class BatchRunPartition
{
    public long RunId { get; set; }
    public int PartitionNo { get; set; }
    public long FirstUserId { get; set; }
    public long LastUserId { get; set; }
    public BatchPartitionStatus Status { get; set; }

    /// <summary>The node working on it, or that finished it.</summary>
    public string? Node { get; set; }

    /// <summary>
    /// The partition's work, counted at its start: the users of its range it has to process (not those it will
    /// find done); with the counts below, written as it goes. The run's progress is the sum of its partitions'.
    /// </summary>
    public int Expected { get; set; }
    public int Total { get; set; }
    public int Success { get; set; }
    public int Skipped { get; set; }
    public int Failed { get; set; }

    /// <summary>Of the skipped, ids not due on the day (see <see cref="BatchRunAttempt.NotDue"/>).</summary>
    public int NotDue { get; set; }

    /// <summary>The job's own counts (see <see cref="BatchCounters"/>) as stored: a flat JSON object, null when none.</summary>
    public string? Counters { get; set; }
    public string? Error { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
}

public enum BatchPartitionStatus
{
    Pending,
    Done,
    /// <summary>Stopped early (extension unavailable); the run fails and its next attempt redoes the partition.</summary>
    Failed,
}
