using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Batch.Asset.Scheduler;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Asset.Job;

/// <summary>
/// Runs the asset refresh for one day as a recorded run: claims the day's lease (refusing a day
/// already running anywhere), renews it while working, times the run and records its result.
/// </summary>
public sealed partial class AssetRefreshJob(
    RefreshAssetsUseCase refreshAssets, BatchRunLedger ledger, DueDays dueDays, IServiceProvider services,
    IOptions<BatchOptions> batchOptions, IOptions<AssetRefreshOptions> refreshOptions, IHostApplicationLifetime lifetime,
    TimeProvider time, ILogger<AssetRefreshJob> logger)
{
    public const string Name = "asset-refresh";

    /// <summary>
    /// Runs every day the schedule owes, oldest first: missed days within Batch:MaxCatchUpDays,
    /// then the day just fired, each only if it has not gone through yet. Older missed days are
    /// logged, not run.
    /// </summary>
    /// <param name="firedDay">The day the trigger fired for; null at start-up.</param>
    public async Task<IReadOnlyList<BatchResult>> RunDueDaysAsync(DateOnly? firedDay, CancellationToken cancellationToken)
    {
        var settings = refreshOptions.Value;
        var due = await dueDays.FindAsync(Name, settings.Cron, settings.ResolveZone(), firedDay, cancellationToken);
        if (due.TooOld.Count > 0)
            LogTooOld(due.TooOld.Count, string.Join(", ", due.TooOld.Select(d => d.ToString("O"))));
        if (batchOptions.Value.Clustered)
        {
            // One day at a time across the cluster, oldest first: a day's base is the day before's
            // result. The run that finishes a day triggers the scheduler again for the next one.
            if (due.ToRun.Count > 0)
                await services.GetRequiredService<AssetRefreshFanOut>().StartAsync(due.ToRun[0], cancellationToken);
            return [];
        }

        var results = new List<BatchResult>();
        foreach (var day in due.ToRun)
        {
            if (await TryRunAsync(day, cancellationToken) is { } result)
                results.Add(result);
        }
        return results;
    }

    /// <param name="users">Only these users (a back-fill's selection); every active user when null.</param>
    /// <returns>The result, or null when another attempt (here or in another process) is running that day.</returns>
    public async Task<BatchResult?> TryRunAsync(DateOnly day, CancellationToken cancellationToken, UserIdRange? users = null)
    {
        var claim = await ledger.TryClaimAsync(Name, day, cancellationToken);
        if (claim is null)
        {
            LogAlreadyRunning(day.ToString("O"));
            return null;
        }

        LogStarting(day.ToString("O"), claim.Attempt);
        var started = time.GetTimestamp();
        // Shutdown (SIGTERM) stops the run too: no new users are taken, calls in flight are abandoned, and the run is left aborted to resume.
        using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        using var heartbeat = new CancellationTokenSource();
        var renewing = RenewLeaseAsync(claim, run, heartbeat.Token);
        BatchResult result;
        try
        {
            var outcome = await refreshAssets.RunAsync(day, users, run.Token);
            var status = outcome.StoppedBecause is not null ? BatchRunStatus.Failed
                : outcome.Failed > 0 ? BatchRunStatus.CompletedWithFailures
                : BatchRunStatus.Completed;
            result = new BatchResult(day, status, outcome.Total, outcome.Success, outcome.Skipped, outcome.Failed,
                Elapsed(started), outcome.StoppedBecause, claim.RunId, claim.Attempt);
        }
        catch (Exception e)
        {
            var aborted = e is OperationCanceledException && run.IsCancellationRequested;
            var why = !aborted ? e.Message
                : cancellationToken.IsCancellationRequested || lifetime.ApplicationStopping.IsCancellationRequested ? "stopped before the run was through"
                : "lease lost to another process";
            // Recorded without the cancelled token: the row must not stay "running" for its lease's length.
            await ledger.FinishAsync(claim, new BatchResult(day, aborted ? BatchRunStatus.Aborted : BatchRunStatus.Failed,
                0, 0, 0, 0, Elapsed(started), why, claim.RunId, claim.Attempt), CancellationToken.None);
            throw;
        }
        finally
        {
            await heartbeat.CancelAsync();
            await renewing;
        }

        await ledger.FinishAsync(claim, result, CancellationToken.None);
        LogFinished(day.ToString("O"), result.Status, result.Total, result.Success, result.Skipped, result.Failed, result.ElapsedMs);
        return result;
    }

    /// <summary>
    /// Clustered mode: refreshes one partition of a fanned-out day under the run's lease; the
    /// partition that leaves none pending finalises the run with the counts of all of them.
    /// </summary>
    public async Task RunPartitionAsync(RunClaim claim, DateOnly day, int partitionNo, UserIdRange users, CancellationToken cancellationToken)
    {
        if (!await ledger.RenewAsync(claim, cancellationToken))
        {
            LogStalePartition(claim.RunId, claim.Attempt, partitionNo);
            return;
        }
        await ledger.MarkPartitionTakenAsync(claim.RunId, partitionNo, cancellationToken);

        var started = time.GetTimestamp();
        using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        using var heartbeat = new CancellationTokenSource();
        var renewing = RenewLeaseAsync(claim, run, heartbeat.Token);
        RefreshOutcome outcome;
        try
        {
            outcome = await refreshAssets.RunAsync(day, users, run.Token);
        }
        finally
        {
            await heartbeat.CancelAsync();
            await renewing;
        }

        var partition = new BatchResult(day, outcome.StoppedBecause is null ? BatchRunStatus.Completed : BatchRunStatus.Failed,
            outcome.Total, outcome.Success, outcome.Skipped, outcome.Failed, Elapsed(started), outcome.StoppedBecause);
        var lastOne = await ledger.FinishPartitionAsync(claim.RunId, partitionNo,
            outcome.StoppedBecause is null ? BatchPartitionStatus.Done : BatchPartitionStatus.Failed, partition, CancellationToken.None);
        if (!lastOne)
            return;

        var startedAt = (await ledger.FindAsync(claim.RunId, CancellationToken.None))!.StartedAt;
        var result = await ledger.SumPartitionsAsync(claim.RunId, day, claim.Attempt,
            (long)(time.GetUtcNow() - startedAt).TotalMilliseconds, CancellationToken.None);
        await ledger.FinishAsync(claim, result, CancellationToken.None);
        LogFinished(day.ToString("O"), result.Status, result.Total, result.Success, result.Skipped, result.Failed, result.ElapsedMs);
        // The next owed day, if any, starts now rather than at the next fire.
        var scheduler = await services.GetRequiredService<ISchedulerFactory>().GetScheduler(CancellationToken.None);
        await scheduler.TriggerJob(DailyAssetRefreshScheduler.JobKey, cancellationToken: CancellationToken.None);
    }

    private long Elapsed(long started) => (long)time.GetElapsedTime(started).TotalMilliseconds;

    /// <summary>Renews the lease until stopped; a lost lease cancels the run so two attempts never write at once.</summary>
    private async Task RenewLeaseAsync(RunClaim claim, CancellationTokenSource run, CancellationToken stop)
    {
        var every = batchOptions.Value.LeaseTimeout / 4;
        try
        {
            while (true)
            {
                await Task.Delay(every, time, stop);
                if (!await ledger.RenewAsync(claim, stop))
                {
                    LogLeaseLost(claim.RunId);
                    await run.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(LogLevel.Warning, "Asset refresh for {Day} is already running; not starting another")]
    private partial void LogAlreadyRunning(string day);

    [LoggerMessage(LogLevel.Information, "Asset refresh for {Day} starting (attempt {Attempt})")]
    private partial void LogStarting(string day, int attempt);

    [LoggerMessage(LogLevel.Warning, "Partition {Partition} of run {RunId} attempt {Attempt} is stale: a newer attempt holds the run; skipping")]
    private partial void LogStalePartition(long runId, int attempt, int partition);

    [LoggerMessage(LogLevel.Warning, "{Count} missed asset refresh days are older than Batch:MaxCatchUpDays and were not run: {Days}")]
    private partial void LogTooOld(int count, string days);

    [LoggerMessage(LogLevel.Error, "Asset refresh run {RunId} lost its lease to another process; stopping")]
    private partial void LogLeaseLost(long runId);

    [LoggerMessage(LogLevel.Information,
        "Asset refresh for {Day} {Status}: total {Total}, success {Success}, skipped {Skipped}, failed {Failed} in {ElapsedMs} ms")]
    private partial void LogFinished(string day, BatchRunStatus status, int total, int success, int skipped, int failed, long elapsedMs);
}
