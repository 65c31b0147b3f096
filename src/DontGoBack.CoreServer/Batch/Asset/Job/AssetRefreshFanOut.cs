using DontGoBack.CoreServer.Batch.Asset.Scheduler;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Batch.Common;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Asset.Job;

/// <summary>
/// Clustered mode: claims a day's run, splits its active users into id-range partitions and
/// schedules each as a recoverable Quartz job that any node of the cluster may pick up.
/// </summary>
public sealed partial class AssetRefreshFanOut(
    BatchRunLedger ledger, AssetRefreshStore store, ISchedulerFactory schedulers, IOptions<BatchOptions> options,
    ILogger<AssetRefreshFanOut> logger)
{
    public const string PartitionGroup = "asset-refresh-partitions";

    /// <returns>False when the cluster is already working on that day.</returns>
    public async Task<bool> StartAsync(DateOnly day, CancellationToken cancellationToken)
    {
        var claim = await ledger.TryClaimAsync(AssetRefreshJob.Name, day, rerunCompleted: false, cancellationToken);
        if (claim is null)
            return false;

        var ranges = await store.ActiveIdRangeAsync(cancellationToken) is { } active ? active.Split(options.Value.PartitionSize) : [];
        var pending = await ledger.PlanPartitionsAsync(claim.RunId, ranges, cancellationToken);
        if (pending.Count == 0)
        {
            await ledger.FinishAsync(claim, await ledger.SumPartitionsAsync(claim.RunId, day, claim.Attempt, 0, cancellationToken), cancellationToken);
            await TriggerNextDayAsync(cancellationToken);
            return true;
        }

        var scheduler = await schedulers.GetScheduler(cancellationToken);
        foreach (var partition in pending)
        {
            // Keyed by attempt: jobs of an attempt that lost its lease find out and do nothing.
            var name = $"run-{claim.RunId}-attempt-{claim.Attempt}-partition-{partition.PartitionNo}";
            var job = JobBuilder.Create<AssetRefreshPartitionJob>()
                .WithIdentity(name, PartitionGroup)
                .UsingJobData(AssetRefreshPartitionJob.RunIdKey, claim.RunId.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .UsingJobData(AssetRefreshPartitionJob.OwnerKey, claim.Owner)
                .UsingJobData(AssetRefreshPartitionJob.AttemptKey, claim.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .UsingJobData(AssetRefreshPartitionJob.DayKey, day.ToString("O"))
                .UsingJobData(AssetRefreshPartitionJob.PartitionKey, partition.PartitionNo.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .UsingJobData(AssetRefreshPartitionJob.FirstUserKey, partition.FirstUserId.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .UsingJobData(AssetRefreshPartitionJob.LastUserKey, partition.LastUserId.ToString(System.Globalization.CultureInfo.InvariantCulture))
                // A node that dies mid-partition has it re-run on another node.
                .RequestRecovery()
                .Build();
            var trigger = TriggerBuilder.Create().WithIdentity(name, PartitionGroup).ForJob(job).StartNow().Build();
            await scheduler.ScheduleJob(job, trigger, cancellationToken: cancellationToken);
        }
        LogFannedOut(day.ToString("O"), claim.RunId, claim.Attempt, pending.Count);
        return true;
    }

    /// <summary>Fires the daily job now for whatever day is owed next; not a cron fire, so it owes no new day itself.</summary>
    public async Task TriggerNextDayAsync(CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        await scheduler.TriggerJob(DailyAssetRefreshScheduler.JobKey,
            new JobDataMap { [DailyAssetRefreshScheduler.ChainedKey] = "true" }, cancellationToken);
    }

    [LoggerMessage(LogLevel.Information, "Asset refresh for {Day} (run {RunId}, attempt {Attempt}) split into {Partitions} partitions for the cluster")]
    private partial void LogFannedOut(string day, long runId, int attempt, int partitions);
}
