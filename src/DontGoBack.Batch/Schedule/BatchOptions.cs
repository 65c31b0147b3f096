using System.ComponentModel.DataAnnotations;

namespace DontGoBack.Batch.Schedule;

public sealed class BatchOptions
{
    public const string SectionName = "Batch";

    /// <summary>
    /// The batch zone, an IANA (or Windows) id: every job's cron fires and deadlines are read in it, and a day is the
    /// calendar date in it (<see cref="BatchCalendar"/>). One zone for every job, so a day means the same everywhere.
    /// </summary>
    public string TimeZone { get; set; } = "Asia/Seoul";

    /// <summary>
    /// This process's name in run history, partitions, alerts and (clustered) Quartz's check-ins; default
    /// host name and process id. Clustered, each replica needs a name of its own: Quartz tells nodes apart by it.
    /// </summary>
    [StringLength(200, ErrorMessage = "Batch:NodeName must be at most {1} characters: run history and Quartz's cluster tables store it in 200.")]
    public string? NodeName { get; set; }

    /// <summary>A running run whose heartbeat is older than this is taken to be dead and may be taken over.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Batch:LeaseTimeout must be between {1} and {2}.")]
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often a working run writes its progress (with its lease's renewal, which also happens at least every LeaseTimeout/4).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00", ErrorMessage = "Batch:ProgressInterval must be between {1} and {2}.")]
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How long a run's outcome is retried while the database is unreachable. Past it the run is
    /// left as it stands (running, with a lease no one renews), so the next start or trigger takes it over.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00", ErrorMessage = "Batch:RecordOutcomeTimeout must be between {1} and {2}.")]
    public TimeSpan RecordOutcomeTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Missed days run at start-up and at each trigger, oldest first, at most this many; older ones are reported.</summary>
    [Range(0, 366, ErrorMessage = "Batch:MaxCatchUpDays must be between {1} and {2}.")]
    public int MaxCatchUpDays { get; set; } = 7;

    /// <summary>
    /// Several replicas on one PostgreSQL: Quartz runs on its clustered job store so the daily
    /// trigger fires once per cluster, and each day's users are split into partitions that any
    /// node picks up. Needs Database:Provider=Postgres.
    /// </summary>
    public bool Clustered { get; set; }

    /// <summary>User ids per partition of a clustered run.</summary>
    [Range(1, 10_000_000, ErrorMessage = "Batch:PartitionSize must be between {1} and {2}.")]
    public int PartitionSize { get; set; } = 50_000;

    /// <summary>Partitions one clustered node works on at once; each already makes AssetRefresh:MaxConcurrency calls in parallel.</summary>
    [Range(1, 64, ErrorMessage = "Batch:PartitionsPerNode must be between {1} and {2}.")]
    public int PartitionsPerNode { get; set; } = 1;

    /// <summary>How often a clustered node checks in; a node silent for three times this is taken as dead and its partitions re-run elsewhere.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00", ErrorMessage = "Batch:ClusterCheckinInterval must be between {1} and {2}.")]
    public TimeSpan ClusterCheckinInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often each node reads every daily job's standing against its schedule: the schedule
    /// gauges are at most this old, and a deadline passed is alerted within it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00", ErrorMessage = "Batch:WatchInterval must be between {1} and {2}.")]
    public TimeSpan WatchInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The earliest day any API or command accepts. Days from outside are checked against it, so
    /// date arithmetic (week and month starts, spans, catch-up) never meets the ends of the calendar.
    /// </summary>
    [Range(typeof(DateOnly), "1900-01-01", "2100-01-01", ErrorMessage = "Batch:EarliestDay must be between {1} and {2}.")]
    public DateOnly EarliestDay { get; set; } = new(2000, 1, 1);

    public string ResolveNodeName() => string.IsNullOrWhiteSpace(NodeName) ? $"{Environment.MachineName}:{Environment.ProcessId}" : NodeName;
}
