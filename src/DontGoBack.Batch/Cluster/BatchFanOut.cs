using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using System.Globalization;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.Batch.Cluster;

/// <summary>A partition to run: the claim of the attempt that planned it, the day, its number and its ids.</summary>
public sealed record PartitionOrder(RunClaim Claim, DateOnly Day, int Partition, IdRange Ids);

/// <summary>A clustered day claimed and split; <see cref="Partitions"/> is 0 when there was nothing to split.</summary>
public sealed record FannedOut(RunClaim Claim, int Partitions);

/// <summary>
/// Clustered mode: claims a day's run, splits the ids its job covers into ranges of at most
/// Batch:PartitionSize of them (bounded by the ids that exist) and schedules each as a recoverable Quartz job that any node of the cluster may take;
/// and fires a job again for the next owed day.
/// </summary>
public sealed partial class BatchFanOut(
    BatchRunLedger ledger, ISchedulerFactory schedulers, IOptions<BatchOptions> options, TimeProvider time, ILogger<BatchFanOut> logger)
{
    /// <returns>Null when the cluster is already working on that day (or it went through).</returns>
    public async Task<FannedOut?> StartAsync<TJob>(
        DailyJobSchedule<TJob> schedule, DateOnly day, IQueryable<long> workIds, CancellationToken cancellationToken)
        where TJob : IDailyJob
    {
        var claim = await ledger.TryClaimAsync(schedule.Definition.Name, day, rerunCompleted: false, cancellationToken);
        if (claim is null)
            return null;

        var ranges = await IdRange.All.SplitAsync(workIds, options.Value.PartitionSize, cancellationToken);
        var pending = await ledger.PlanPartitionsAsync(claim.RunId, ranges, cancellationToken);
        if (pending.Count == 0)
            return new FannedOut(claim, 0);

        var scheduler = await schedulers.GetScheduler(cancellationToken);
        var partitionJobs = new Dictionary<IJobDetail, IReadOnlyCollection<ITrigger>>(pending.Count);
        foreach (var partition in pending)
        {
            // Keyed by attempt: jobs of an attempt that lost its lease find out and do nothing.
            var name = PartitionJobName(claim.RunId, claim.Attempt, partition.PartitionNo);
            var order = new PartitionOrder(claim, day, partition.PartitionNo, new IdRange(partition.FirstUserId, partition.LastUserId));
            var job = JobBuilder.Create<DailyJobPartition<TJob>>()
                .WithIdentity(name, schedule.Definition.PartitionGroup)
                .UsingJobData(DailyJobPartition<TJob>.JobData(order))
                // A node that dies mid-partition has it re-run on another node.
                .RequestRecovery()
                .Build();
            // Due now on the scheduler's clock, the server's TimeProvider: StartNow() dates it by the system clock, and on a
            // clock behind the system's (a load-test clock, a node whose time was set back) the partition never came due.
            partitionJobs[job] = [TriggerBuilder.Create().WithIdentity(name, schedule.Definition.PartitionGroup).ForJob(job).StartAt(time.GetUtcNow()).Build()];
        }
        // All or none, in one transaction of the cluster's store: a fan-out stopped part-way (a shutdown, a killed process)
        // leaves no day with some partitions scheduled and the rest never; its stale lease is taken over as a whole.
        await scheduler.ScheduleJobs(partitionJobs, cancellationToken: cancellationToken);
        LogFannedOut(schedule.Definition.Title, day.ToString("O"), claim.RunId, claim.Attempt, pending.Count);
        return new FannedOut(claim, pending.Count);
    }

    /// <summary>The name of a partition's Quartz job and trigger (in the job's <see cref="DailyJobDefinition.PartitionGroup"/>).</summary>
    public static string PartitionJobName(long runId, int attempt, int partitionNo) => $"run-{runId}-attempt-{attempt}-partition-{partitionNo}";

    /// <summary>Fires the job's daily trigger now for whatever day it owes next; not a cron fire, so it owes no new day itself.</summary>
    public async Task FireAgainAsync(DailyJobSchedule schedule, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        await scheduler.TriggerJob(schedule.Definition.FireKey, DailyJobFire.CatchUpData, cancellationToken);
    }

    [LoggerMessage(LogLevel.Information, "{Job} for {Day} (run {RunId}, attempt {Attempt}) split into {Partitions} partitions for the cluster")]
    private partial void LogFannedOut(string job, string day, long runId, int attempt, int partitions);
}

/// <summary>
/// One partition of a clustered day, on whichever node took it; only hands it to the runner. Its
/// job data is bound to these properties by Quartz's job factory, from invariant-culture strings
/// (the form that survives the clustered store's serialiser unchanged).
/// </summary>
public sealed class DailyJobPartition<TJob>(DailyJobRunner<TJob> runner) : IJob where TJob : IDailyJob
{
    public long RunId { get; set; }
    public int Attempt { get; set; }
    public string Owner { get; set; } = "";
    public DateOnly Day { get; set; }
    public int Partition { get; set; }
    public long FirstId { get; set; }
    public long LastId { get; set; }

    public PartitionOrder Order => new(new RunClaim(RunId, Attempt, Owner), Day, Partition, new IdRange(FirstId, LastId));

    public static JobDataMap JobData(PartitionOrder order) => new()
    {
        [nameof(RunId)] = order.Claim.RunId.ToString(CultureInfo.InvariantCulture),
        [nameof(Attempt)] = order.Claim.Attempt.ToString(CultureInfo.InvariantCulture),
        [nameof(Owner)] = order.Claim.Owner,
        [nameof(Day)] = order.Day.ToString("O", CultureInfo.InvariantCulture),
        [nameof(Partition)] = order.Partition.ToString(CultureInfo.InvariantCulture),
        [nameof(FirstId)] = order.Ids.First.ToString(CultureInfo.InvariantCulture),
        [nameof(LastId)] = order.Ids.Last.ToString(CultureInfo.InvariantCulture),
    };

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) =>
        await runner.RunPartitionAsync(Order, cancellationToken);
}
