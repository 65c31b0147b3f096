using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;

namespace DontGoBack.Batch.Runs;

/// <summary>
/// The part of a daily batch that is about its domain: which ids a day's work covers and the work
/// for one range of them. Everything else — the run ledger and its lease, statuses, due days and
/// catch-up, the cron trigger, clustered partitions, the manual trigger and the CLI — is the
/// engine's (<see cref="DailyJobRunner{TJob}"/>). Resolved in a scope per run or partition, whose
/// DbContext is the job's alone: the engine keeps its books beside the work on contexts of its own.
/// A job class states its <see cref="DailyJobDefinition"/> as <c>public static Definition</c> (the CLI finds it
/// there) and is registered once with <see cref="BatchEngineExtensions.AddDailyJob{TJob, TOptions}"/>. Its own
/// counts are a record of <see cref="int"/> properties implementing <see cref="IJobCounters"/>, declared with
/// <see cref="DailyJobDefinition.CountedIn{TCounters}"/> and reported to the run's <see cref="RunProgress"/>
/// (<see cref="RunProgress.Count"/>) as they accrue; the engine stores, sums and shows them without knowing their names.
/// </summary>
public interface IDailyJob
{
    /// <summary>
    /// The ids the day's work covers, as a query: the engine cuts a cluster's partitions from the ids it
    /// finds there (<see cref="IdRange.SplitAsync"/>), so a plan is bounded by the ids that exist.
    /// </summary>
    IQueryable<long> WorkIds(DateOnly day);

    /// <summary>
    /// How many ids of <paramref name="range"/> the day still owes: due on the day and not done (failed, or never
    /// reached). It is the work a run counts at its start (so rates and ETAs are of what it has to do), and a retry
    /// of a day recorded through without failures runs only when there are some; otherwise it says so and records
    /// no attempt. Null when the job cannot tell: the record alone decides then.
    /// </summary>
    Task<int?> CountOwedAsync(DateOnly day, IdRange range, CancellationToken cancellationToken) => Task.FromResult<int?>(null);

    /// <summary>
    /// Why the job will never accept <paramref name="day"/> (the caller's mistake, not an outage); null when it may run. Asked before
    /// anything is claimed or recorded: a manual trigger answers 409 with this reason, the CLI exits 2 with it, and a scheduled fire
    /// skips the day with it logged, each recording no run. The job's own check inside its work stays the last line of defence.
    /// </summary>
    Task<string?> WhyNotRunnableAsync(DateOnly day, CancellationToken cancellationToken) => Task.FromResult<string?>(null);

    /// <summary>
    /// Does the day's work for the ids in <paramref name="range"/>, skipping what is done already, so
    /// a run again (a resume, a retry, a recovered partition) continues rather than repeats.
    /// </summary>
    /// <param name="progress">Where the work says how many ids it counts at its start and reports them as they finish, so a long run shows live progress.</param>
    /// <returns>Its counts; <see cref="BatchOutcome.StoppedBecause"/> when a dependency stopped it early.</returns>
    Task<BatchOutcome> RunAsync(DateOnly day, IdRange range, RunProgress progress, CancellationToken cancellationToken);
}

/// <summary>What the engine needs to know of a daily job, fixed when it is registered.</summary>
/// <param name="Name">The name in run history, the trigger path and the CLI, e.g. asset-refresh.</param>
/// <param name="Title">How logs and result lines call it, e.g. "Asset refresh".</param>
/// <param name="SectionName">Its options section, with Enabled, Cron, CompleteBy and MinSuccessRatio (its days are in Batch:TimeZone) (<see cref="DailyJobOptions"/>).</param>
/// <param name="Counted">What a run's total counts, e.g. "active users".</param>
/// <param name="SubsetName">When set, runs of some ids only (back-fills) are recorded under this name, so they never count as the day done.</param>
public sealed record DailyJobDefinition(string Name, string Title, string SectionName, string Counted, string? SubsetName = null)
{
    /// <summary>Says a run's own counters in words (<see cref="CountedIn{TCounters}"/>); a job without counters has nothing to say.</summary>
    private Func<BatchCounters, string?> DescribeWith { get; init; } = _ => null;

    /// <summary>The job's own counters (<typeparamref name="TCounters"/>) are what it reports in <see cref="BatchOutcome.Counters"/>.</summary>
    public DailyJobDefinition CountedIn<TCounters>() where TCounters : IJobCounters =>
        this with { DescribeWith = counts => counts.As<TCounters>().Describe() };

    /// <summary>A run's own counters in the job's words ("re-based 12 later days of 3 users"); null when there is nothing to say.</summary>
    public string? Describe(BatchCounters counters) => counters.IsEmpty ? null : DescribeWith(counters);

    /// <summary>Every name this job records runs under.</summary>
    public IReadOnlyList<string> RunNames => SubsetName is null ? [Name] : [Name, SubsetName];

    /// <summary>The title as it reads mid-sentence: "of asset refresh run 7".</summary>
    public string LowerTitle => Title.ToLowerInvariant();

    /// <summary>The Quartz job that fires the runner (cron, start-up catch-up, chaining).</summary>
    public Quartz.JobKey FireKey => new($"daily-{Name}", Name);

    public Quartz.TriggerKey CronKey => new($"daily-{Name}-cron", Name);

    /// <summary>The Quartz group of a clustered run's partition jobs.</summary>
    public string PartitionGroup => $"{Name}-partitions";
}

/// <summary>
/// A registered job, as <see cref="BatchEngineExtensions.AddDailyJob{TJob, TOptions}"/> registers it once: its definition,
/// its validated schedule settings, its work, its per-item failures and the endpoints it brings. Found by name only
/// through <see cref="BatchJobs"/>.
/// </summary>
public abstract class DailyJobSchedule(DailyJobDefinition definition)
{
    public DailyJobDefinition Definition => definition;

    public abstract DailyJobOptions Settings { get; }

    /// <summary>The job's per-item failures (a scoped <see cref="IBatchRunFailures"/>), for the run pages and API; null when it keeps none.</summary>
    public Type? Failures { get; init; }

    /// <summary>Endpoints the job brings along (e.g. what feeds its work), mapped beside the engine's by <see cref="BatchJobs.MapEndpoints"/>.</summary>
    public Action<IEndpointRouteBuilder>? Endpoints { get; init; }

    /// <summary>The engine's runner of this job's work, resolved in <paramref name="scope"/> (a request's, a command's, a background run's).</summary>
    public abstract IBatchJobRunner RunnerIn(IServiceProvider scope);

    /// <summary>The job's failures, resolved in <paramref name="scope"/>; null when it keeps none.</summary>
    public IBatchRunFailures? FailuresIn(IServiceProvider scope) => Failures is null ? null : (IBatchRunFailures)scope.GetRequiredService(Failures);

    /// <summary>The schedule as its settings say now, in the batch zone: what the health check and the schedule gauges judge.</summary>
    public DailySchedule Describe(BatchCalendar calendar)
    {
        var settings = Settings;
        return new DailySchedule(Definition.Name, settings.Enabled, settings.Cron, settings.CompleteBy, settings.MinSuccessRatio,
            Definition.SectionName, calendar);
    }
}

/// <summary>The schedule of <typeparamref name="TJob"/>, so the engine's parts for one job find theirs by type.</summary>
public sealed class DailyJobSchedule<TJob>(DailyJobDefinition definition, Func<DailyJobOptions> settings) : DailyJobSchedule(definition)
    where TJob : IDailyJob
{
    public override DailyJobOptions Settings => settings();

    public override IBatchJobRunner RunnerIn(IServiceProvider scope) => scope.GetRequiredService<DailyJobRunner<TJob>>();
}
