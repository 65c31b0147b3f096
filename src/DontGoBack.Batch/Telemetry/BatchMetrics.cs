using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DontGoBack.Batch.Telemetry;

/// <summary>
/// The batch engine's telemetry, named in this one place: the meter with every instrument and the
/// activity source. Tags stay few and bounded (job, status, outcome, failure class), never a user
/// or a day, so a series per tag set stays a handful whatever the user count.
/// </summary>
/// <remarks>
/// Measurements made while a run works are tagged with the job of the run they are of, read off the run's
/// <see cref="RunProgress"/>, which the engine hands to the work: the users as the work reports them to it
/// (counted here once, as they are reported), its chunk writes and extension calls.
/// </remarks>
public sealed class BatchMetrics
{
    public const string MeterName = "DontGoBack.Batch";
    public const string ActivitySourceName = "DontGoBack.Batch";

    public const string JobTag = "batch.job";
    public const string StatusTag = "batch.status";
    public const string OutcomeTag = "batch.outcome";
    public const string FailureClassTag = "batch.failure_class";
    public const string AlertConditionTag = "batch.alert.condition";
    public const string AlertKindTag = "batch.alert.kind";
    public const string DeliveryOutcomeTag = "batch.alert.delivery";

    public const string RunIdTag = "batch.run_id";
    public const string DayTag = "batch.day";
    public const string AttemptTag = "batch.attempt";
    public const string PartitionTag = "batch.partition";

    public const string RunDuration = "dontgoback.batch.run.duration";
    public const string ActiveRuns = "dontgoback.batch.run.active";
    public const string UsersProcessed = "dontgoback.batch.users.processed";
    public const string UsersPerSecond = "dontgoback.batch.users.rate";
    public const string UsersRemaining = "dontgoback.batch.users.remaining";
    public const string ChunkWriteDuration = "dontgoback.batch.chunk.write.duration";
    public const string ExtensionCallDuration = "dontgoback.batch.extension.call.duration";
    // Not `days_behind`: promtool asks a name that names a unit to name a base one (seconds); `{day}` is an annotation, not in the name.
    public const string Overdue = "dontgoback.batch.schedule.overdue";
    public const string SinceLastThrough = "dontgoback.batch.schedule.since_last_through";
    public const string Alerts = "dontgoback.batch.alerts";
    public const string AlertDeliveries = "dontgoback.batch.alert.deliveries";

    internal static readonly ActivitySource ActivitySource = new(ActivitySourceName);

    // Runs last seconds to hours; the SDK's default buckets stop at 10 s.
    private static readonly double[] RunBuckets = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400];
    // Chunk writes and extension calls take milliseconds to the per-call deadline (30 s by default).
    private static readonly double[] CallBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly TimeProvider _time;
    private readonly Histogram<double> _runDuration;
    private readonly Counter<long> _users;
    private readonly Histogram<double> _chunkWrite;
    private readonly Histogram<double> _extensionCall;
    private readonly Counter<long> _alerts;
    private readonly Counter<long> _alertDeliveries;
    private readonly ConcurrentDictionary<BatchRunTelemetry, byte> _inProgress = new();
    private readonly ConcurrentDictionary<string, ScheduleReport> _schedules = new();
    private readonly ConcurrentDictionary<string, byte> _jobsSeen = new();

    public BatchMetrics(IMeterFactory meters, TimeProvider time)
    {
        _time = time;
        var meter = meters.Create(MeterName);
        _runDuration = meter.CreateHistogram(RunDuration, "s", "How long runs took, from claim to recorded outcome, by job and final status.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RunBuckets });
        _users = meter.CreateCounter<long>(UsersProcessed, "{user}",
            "Users a run finished with, by job and outcome (success, skipped, failed with its failure class); counted as each chunk is written.");
        _chunkWrite = meter.CreateHistogram(ChunkWriteDuration, "s", "Time to write one chunk of results in its transaction, retries included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CallBuckets });
        _extensionCall = meter.CreateHistogram(ExtensionCallDuration, "s",
            "Time of one call to the extension server (one user, or a bulk group), its retries and waits included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CallBuckets });
        _alerts = meter.CreateCounter<long>(Alerts, "{alert}",
            "Deadline alerts this node made, by job, condition (overdue, low_success_ratio) and kind (raised, resolved); one per day and condition across the cluster.");
        _alertDeliveries = meter.CreateCounter<long>(AlertDeliveries, "{call}",
            "Webhook calls for alerts made by this node, by job and outcome (sent, retry, gave_up).");
        meter.CreateObservableUpDownCounter(ActiveRuns, ObserveActive, "{run}",
            "Runs, or partitions of a clustered run, this process is working on now.");
        meter.CreateObservableGauge(UsersPerSecond, ObserveRate, "{user}/s",
            "Users processed (written or failed) per second by the runs in progress here, averaged since each started; users skipped as done already are not counted.");
        meter.CreateObservableGauge(UsersRemaining, ObserveRemaining, "{user}",
            "Users the runs in progress here counted at their start as work to do and have not processed yet.");
        meter.CreateObservableGauge(Overdue, ObserveDaysBehind, "{day}",
            "Days the schedule owes that are past their deadline and not through, skipped days (older than the catch-up window) included.");
        meter.CreateObservableGauge(SinceLastThrough, ObserveSinceLastThrough, "s",
            "Time since the run of the latest day that went through finished.");
    }

    /// <summary>
    /// Starts the telemetry of a claimed run: its activity, and counts it as in progress until disposed, its
    /// rate and users left read off <paramref name="progress"/>.
    /// </summary>
    public BatchRunTelemetry StartRun(string job, DateOnly day, RunClaim claim, RunProgress progress) =>
        Start(job, day, claim, partition: null, progress);

    /// <summary>As <see cref="StartRun"/>, for one partition of a clustered run.</summary>
    public BatchRunTelemetry StartPartition(string job, DateOnly day, RunClaim claim, int partition, RunProgress progress) =>
        Start(job, day, claim, partition, progress);

    private BatchRunTelemetry Start(string job, DateOnly day, RunClaim claim, int? partition, RunProgress progress)
    {
        var activity = ActivitySource.StartActivity(partition is null ? $"{job} run" : $"{job} partition");
        activity?.SetTag(JobTag, job);
        activity?.SetTag(RunIdTag, claim.RunId);
        activity?.SetTag(DayTag, day.ToString("O"));
        activity?.SetTag(AttemptTag, claim.Attempt);
        if (partition is not null)
            activity?.SetTag(PartitionTag, partition);
        _jobsSeen.TryAdd(job, 0);
        var telemetry = new BatchRunTelemetry(this, job, activity, _time.GetTimestamp(), partition is not null, progress);
        _inProgress.TryAdd(telemetry, 0);
        return telemetry;
    }

    internal void Ended(BatchRunTelemetry telemetry) => _inProgress.TryRemove(telemetry, out _);

    /// <summary>
    /// The outcome of a run this process worked on was recorded (by its last partition, in a cluster): its duration by
    /// final status, and, when the day went through, the time since the last day through starts again from now.
    /// </summary>
    internal void RunRecorded(BatchRunTelemetry run, BatchResult result)
    {
        _runDuration.Record(result.ElapsedMs / 1000.0, new(JobTag, run.Job), new(StatusTag, result.Status.ToText()));
        if (result.Status.IsThrough())
        {
            var now = _time.GetUtcNow();
            _schedules.AddOrUpdate(run.Job, _ => new ScheduleReport(null, now),
                (_, report) => report with { LastThroughAt = report.LastThroughAt > now ? report.LastThroughAt : now });
        }
    }

    public void AlertMade(string job, DeadlineCondition condition, AlertKind kind) =>
        _alerts.Add(1, new(JobTag, job), new(AlertConditionTag, condition.ToText()), new(AlertKindTag, kind.ToText()));

    public void AlertDelivered(string job, string outcome) => _alertDeliveries.Add(1, new(JobTag, job), new(DeliveryOutcomeTag, outcome));

    /// <summary>
    /// Users a run's <see cref="RunProgress"/> was told finished with success, were skipped (the day was already there,
    /// or their account opened later), or failed unclassified: counted here as they are reported there, never apart.
    /// </summary>
    internal void UsersDone(string? job, int success, int skipped, int failed)
    {
        if (success > 0)
            _users.Add(success, new(JobTag, job), new(OutcomeTag, "success"));
        if (skipped > 0)
            _users.Add(skipped, new(JobTag, job), new(OutcomeTag, "skipped"));
        if (failed > 0)
            _users.Add(failed, new(JobTag, job), new(OutcomeTag, "failed"));
    }

    /// <summary>Users a run's <see cref="RunProgress"/> was told failed, by failure class: an enum, so the tag's values are bounded by construction.</summary>
    internal void UsersFailed<TClass>(string? job, TClass failureClass, int count) where TClass : struct, Enum =>
        _users.Add(count, new(JobTag, job), new(OutcomeTag, "failed"), new(FailureClassTag, failureClass.ToString().ToLowerInvariant()));

    /// <summary>Times one chunk write of the run <paramref name="progress"/> is of (and traces it) until disposed.</summary>
    public Timed ChunkWrite(RunProgress progress, int results)
    {
        var activity = ActivitySource.StartActivity("chunk write");
        activity?.SetTag("batch.chunk.results", results);
        return new Timed(_chunkWrite, progress.Job, activity, _time);
    }

    /// <summary>Traces one page read of a run until disposed.</summary>
    public static Activity? PageRead(int pageSize) =>
        ActivitySource.StartActivity("page read")?.SetTag("batch.page.size", pageSize);

    /// <summary>Times one call to the extension server for the run <paramref name="progress"/> is of until disposed; its HTTP spans are traced by the HTTP client itself.</summary>
    public Timed ExtensionCall(RunProgress progress) => new(_extensionCall, progress.Job, null, _time);

    /// <summary>What the schedule watch last found for a daily job (see <see cref="DailyJobWatch"/>).</summary>
    public void ReportSchedule(string job, int daysBehind, DateTimeOffset? lastThroughAt) =>
        _schedules.AddOrUpdate(job, _ => new ScheduleReport(daysBehind, lastThroughAt),
            (_, report) => new ScheduleReport(daysBehind, Latest(report.LastThroughAt, lastThroughAt)));

    private static DateTimeOffset? Latest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

    // Every job that ran here, or is watched, is reported, with 0 when idle, so a dashboard tells "idle" from "no data".
    private IEnumerable<Measurement<long>> ObserveActive() =>
        _jobsSeen.Keys.Union(_schedules.Keys).Select(job => new Measurement<long>(
            _inProgress.Keys.Count(r => r.Job == job), new KeyValuePair<string, object?>(JobTag, job)));

    private IEnumerable<Measurement<double>> ObserveRate() =>
        _inProgress.Keys.GroupBy(r => r.Job).Select(g => new Measurement<double>(
            g.Sum(r => r.UsersPerSecond(_time)), new KeyValuePair<string, object?>(JobTag, g.Key)));

    private IEnumerable<Measurement<long>> ObserveRemaining() =>
        _inProgress.Keys.GroupBy(r => r.Job).Select(g => new Measurement<long>(
            g.Sum(r => (long)r.Progress.Snapshot().Left), new KeyValuePair<string, object?>(JobTag, g.Key)));

    private IEnumerable<Measurement<int>> ObserveDaysBehind() =>
        _schedules.Where(s => s.Value.DaysBehind is not null)
            .Select(s => new Measurement<int>(s.Value.DaysBehind!.Value, new KeyValuePair<string, object?>(JobTag, s.Key)));

    private IEnumerable<Measurement<double>> ObserveSinceLastThrough()
    {
        var now = _time.GetUtcNow();
        return _schedules.Where(s => s.Value.LastThroughAt is not null)
            .Select(s => new Measurement<double>(
                Math.Max(0, (now - s.Value.LastThroughAt!.Value).TotalSeconds), new KeyValuePair<string, object?>(JobTag, s.Key)));
    }

    private sealed record ScheduleReport(int? DaysBehind, DateTimeOffset? LastThroughAt);

    /// <summary>A duration recorded in seconds, tagged with the run's job, when disposed; with its activity, if traced.</summary>
    public readonly struct Timed(Histogram<double> histogram, string? job, Activity? activity, TimeProvider time) : IDisposable
    {
        private readonly long _started = time.GetTimestamp();

        public void Dispose()
        {
            histogram.Record(time.GetElapsedTime(_started).TotalSeconds, new KeyValuePair<string, object?>(JobTag, job));
            activity?.Dispose();
        }
    }
}

/// <summary>
/// The telemetry of one run (or partition) in progress: its activity, and the progress its job reports, which
/// the gauges read. The engine holds it for the run and tells it of the run's recorded outcome.
/// </summary>
public sealed class BatchRunTelemetry : IDisposable
{
    private readonly BatchMetrics _metrics;
    private readonly long _started;

    internal BatchRunTelemetry(BatchMetrics metrics, string job, Activity? activity, long started, bool isPartition, RunProgress progress) =>
        (_metrics, Job, Activity, _started, IsPartition, Progress) = (metrics, job, activity, started, isPartition, progress);

    public string Job { get; }
    public Activity? Activity { get; }

    /// <summary>One partition of a clustered run rather than a whole run.</summary>
    public bool IsPartition { get; }

    /// <summary>The run's progress, as its job reports it.</summary>
    public RunProgress Progress { get; }

    /// <summary>Of the users its progress says it processed: skipped ones needed no work.</summary>
    internal double UsersPerSecond(TimeProvider time)
    {
        var seconds = time.GetElapsedTime(_started).TotalSeconds;
        return seconds <= 0 ? 0 : Progress.Snapshot().Processed / seconds;
    }

    /// <summary>The run's outcome was recorded, by this run, or by this partition as the last of its run.</summary>
    public void RunRecorded(BatchResult result)
    {
        _metrics.RunRecorded(this, result);
        if (!IsPartition)
            Finished(result);
    }

    /// <summary>This partition's own outcome was recorded (the run's, once all are through, comes to <see cref="RunRecorded"/>).</summary>
    public void PartitionRecorded(BatchResult result)
    {
        if (IsPartition)
            Finished(result);
    }

    private void Finished(BatchResult result)
    {
        if (Activity is null)
            return;
        Activity.SetTag(BatchMetrics.StatusTag, result.Status.ToText());
        Activity.SetTag("batch.users.total", result.Total);
        Activity.SetTag("batch.users.success", result.Success);
        Activity.SetTag("batch.users.skipped", result.Skipped);
        Activity.SetTag("batch.users.failed", result.Failed);
        if (result.Status == BatchRunStatus.Failed)
            Activity.SetStatus(ActivityStatusCode.Error, result.Error);
    }

    public void Dispose()
    {
        _metrics.Ended(this);
        Activity?.Dispose();
    }
}
