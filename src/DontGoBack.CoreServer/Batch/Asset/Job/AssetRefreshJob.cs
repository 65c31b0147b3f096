using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Scheduler;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Persistence;
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
    BatchMetrics metrics, TimeProvider time, ILogger<AssetRefreshJob> logger)
{
    public const string Name = "asset-refresh";

    /// <summary>Runs of a subset of users (back-fills) are recorded apart, so they never count as the day done.</summary>
    public const string SubsetName = "asset-refresh-subset";

    /// <summary>Every job name this batch records runs under.</summary>
    public static readonly IReadOnlyList<string> Names = [Name, SubsetName];

    /// <summary>
    /// Runs every day the schedule owes, oldest first: missed days within Batch:MaxCatchUpDays,
    /// then the day just fired, each only if it has not gone through yet. Stops at the first day
    /// that does not go through, since the next day's base is that day's result. Older missed
    /// days are logged, not run.
    /// </summary>
    /// <param name="firedDay">The day a cron fire is for; null at start-up and for a chained trigger.</param>
    public async Task<IReadOnlyList<BatchResult>> RunDueDaysAsync(DateOnly? firedDay, CancellationToken cancellationToken)
    {
        var settings = refreshOptions.Value;
        var due = await dueDays.FindAsync(Name, settings.Cron, settings.ResolveZone(), firedDay, cancellationToken);
        if (due.TooOld.Count > 0)
            LogTooOld(due.TooOld.Count, due.TooOld[0].ToString("O"), due.TooOld[^1].ToString("O"), batchOptions.Value.MaxCatchUpDays);
        if (batchOptions.Value.Clustered)
        {
            // One day at a time across the cluster, oldest first. The run that finishes a day
            // triggers the scheduler again for the next one.
            if (due.ToRun.Count > 0)
                await services.GetRequiredService<AssetRefreshFanOut>().StartAsync(due.ToRun[0], cancellationToken);
            return [];
        }

        var results = new List<BatchResult>();
        foreach (var day in due.ToRun)
        {
            var result = await RunAsync(day, users: null, rerunCompleted: false, cancellationToken);
            if (result is null)
                break;
            results.Add(result);
            if (result.Status is not (BatchRunStatus.Completed or BatchRunStatus.CompletedWithFailures))
                break;
        }
        return results;
    }

    /// <summary>A manual run (trigger, CLI): runs the day even if it went through, as a continuation.</summary>
    /// <param name="users">Only these users (a back-fill's selection), recorded apart; every active user when null.</param>
    /// <returns>The result, or null when another attempt (here or in another process) is running that day.</returns>
    public Task<BatchResult?> TryRunAsync(DateOnly day, CancellationToken cancellationToken, UserIdRange? users = null) =>
        RunAsync(day, users, rerunCompleted: true, cancellationToken);

    private async Task<BatchResult?> RunAsync(DateOnly day, UserIdRange? users, bool rerunCompleted, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        RunClaim? claim;
        try
        {
            claim = await ledger.TryClaimAsync(users is null ? Name : SubsetName, day, rerunCompleted, cancellationToken);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            // Nothing was claimed, so nothing is left running: the run just cannot start now.
            var why = DatabaseFaults.Describe(e);
            LogNotStartedDatabase(day.ToString("O"), why);
            return new BatchResult(day, BatchRunStatus.Failed, 0, 0, 0, 0, Elapsed(started), why);
        }
        if (claim is null)
        {
            LogNotStarted(day.ToString("O"));
            return null;
        }

        LogStarting(day.ToString("O"), claim.Attempt);
        using var telemetry = metrics.StartRun(users is null ? Name : SubsetName, day, claim);
        started = time.GetTimestamp();
        // Shutdown (SIGTERM) stops the run too: no new users are taken, calls in flight are abandoned, and the run is left aborted to resume.
        using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        BatchResult result;
        var lease = StartRenewingLease(claim, run);
        try
        {
            var outcome = await refreshAssets.RunAsync(day, users, run.Token);
            var status = outcome.StoppedBecause is not null ? BatchRunStatus.Failed
                : outcome.Failed > 0 ? BatchRunStatus.CompletedWithFailures
                : BatchRunStatus.Completed;
            result = outcome.ToResult(day, status, Elapsed(started), claim.RunId, claim.Attempt);
        }
        catch (Exception e)
        {
            // The lease renewal shares the ledger's DbContext: stop it before recording.
            await lease.StopAsync();
            var status = Stopped(e, run, cancellationToken, out var why);
            var stopped = new BatchResult(day, status, 0, 0, 0, 0, Elapsed(started), why, claim.RunId, claim.Attempt);
            // Recorded without the cancelled token: the row must not stay "running" for its lease's length.
            if (await RecordAsync(claim, stopped) is null)
                stopped = stopped with { Error = OutcomeNotRecorded(stopped) };
            if (status == BatchRunStatus.Aborted)
                throw;
            // Anything else is recorded and answered as a failed run, not thrown at the trigger or the CLI.
            LogRunCrashed(e, day.ToString("O"));
            return stopped;
        }
        await lease.StopAsync();

        var recorded = await RecordAsync(claim, result);
        if (recorded is false)
            LogLeaseLost(claim.RunId);
        if (recorded is null)
            result = result with { Status = BatchRunStatus.Failed, Error = OutcomeNotRecorded(result) };
        LogFinished(day.ToString("O"), result.Status.ToText(), result.Total, result.Success, result.Skipped, result.Failed, result.ElapsedMs);
        return result;
    }

    /// <summary>Records the run's outcome, retried while the database is away for up to Batch:RecordOutcomeTimeout.</summary>
    /// <returns>False when the lease was lost meanwhile; null when the database stayed unreachable.</returns>
    private async Task<bool?> RecordAsync(RunClaim claim, BatchResult result)
    {
        try
        {
            return await ledger.RecordOutcomeAsync(claim, result, CancellationToken.None);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            LogOutcomeNotRecorded(claim.RunId, result.Status, DatabaseFaults.Describe(e), batchOptions.Value.LeaseTimeout);
            return null;
        }
    }

    /// <summary>A run whose outcome could not be recorded is not done as far as the schedule knows: it counts as failed.</summary>
    private static string OutcomeNotRecorded(BatchResult result) => result.Error is null
        ? $"the run went through ({JsonSerializer.Serialize(result.Status).Trim('"')}), but its outcome could not be recorded: database unavailable"
        : $"{result.Error}; its outcome could not be recorded";

    /// <summary>
    /// Clustered mode: refreshes one partition of a fanned-out day under the run's lease; the
    /// partition that leaves none pending finalises the run with the counts of all of them.
    /// </summary>
    public async Task RunPartitionAsync(RunClaim claim, DateOnly day, int partitionNo, UserIdRange users, CancellationToken cancellationToken)
    {
        if (!await ledger.TryTakePartitionAsync(claim, partitionNo, cancellationToken))
        {
            LogStalePartition(claim.RunId, claim.Attempt, partitionNo);
            return;
        }

        var started = time.GetTimestamp();
        using var telemetry = metrics.StartPartition(Name, day, claim, partitionNo);
        using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        var lease = StartRenewingLease(claim, run);
        BatchResult partition;
        try
        {
            var outcome = await refreshAssets.RunAsync(day, users, run.Token);
            partition = outcome.ToResult(day, outcome.StoppedBecause is null ? BatchRunStatus.Completed : BatchRunStatus.Failed, Elapsed(started));
        }
        catch (Exception e)
        {
            // A partition that cannot finish fails the run rather than leaving it pending until the lease goes stale.
            partition = new BatchResult(day, Stopped(e, run, cancellationToken, out var why), 0, 0, 0, 0, Elapsed(started), why);
        }
        await lease.StopAsync();

        BatchResult result;
        try
        {
            var lastOne = await ledger.RecordPartitionOutcomeAsync(claim, partitionNo,
                partition.Status == BatchRunStatus.Completed ? BatchPartitionStatus.Done : BatchPartitionStatus.Failed, partition, CancellationToken.None);
            if (lastOne is not true)
                return;

            var startedAt = (await ledger.FindAsync(claim.RunId, CancellationToken.None))!.StartedAt;
            result = await ledger.SumPartitionsAsync(claim.RunId, day, claim.Attempt,
                (long)(time.GetUtcNow() - startedAt).TotalMilliseconds, CancellationToken.None);
            await ledger.RecordOutcomeAsync(claim, result, CancellationToken.None);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            LogOutcomeNotRecorded(claim.RunId, partition.Status, DatabaseFaults.Describe(e), batchOptions.Value.LeaseTimeout);
            return;
        }
        LogFinished(day.ToString("O"), result.Status.ToText(), result.Total, result.Success, result.Skipped, result.Failed, result.ElapsedMs);
        // The next owed day starts now rather than at the next fire; a failed day waits for the
        // next fire or start-up instead of being retried in a loop against a server that is down.
        if (result.Status is BatchRunStatus.Completed or BatchRunStatus.CompletedWithFailures)
            await services.GetRequiredService<AssetRefreshFanOut>().TriggerNextDayAsync(CancellationToken.None);
    }

    private BatchRunStatus Stopped(Exception e, CancellationTokenSource run, CancellationToken caller, out string why)
    {
        var aborted = e is OperationCanceledException && run.IsCancellationRequested;
        why = !aborted ? DatabaseFaults.IsDatabaseFault(e) ? DatabaseFaults.Describe(e) : e.Message
            : caller.IsCancellationRequested || lifetime.ApplicationStopping.IsCancellationRequested ? "stopped before the run was through"
            : "lease lost to another attempt";
        return aborted ? BatchRunStatus.Aborted : BatchRunStatus.Failed;
    }

    private long Elapsed(long started) => (long)time.GetElapsedTime(started).TotalMilliseconds;

    private LeaseRenewal StartRenewingLease(RunClaim claim, CancellationTokenSource run)
    {
        var stop = new CancellationTokenSource();
        return new LeaseRenewal(stop, RenewLeaseAsync(claim, run, stop.Token));
    }

    /// <summary>
    /// Renews the lease until stopped. A lost lease cancels the run (the newer attempt goes on;
    /// the unique index keeps the overlap harmless); a failed renewal is retried at the next tick.
    /// </summary>
    private async Task RenewLeaseAsync(RunClaim claim, CancellationTokenSource run, CancellationToken stop)
    {
        var every = batchOptions.Value.LeaseTimeout / 4;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(every, time, stop);
                if (!await ledger.RenewAsync(claim, stop))
                {
                    LogLeaseLost(claim.RunId);
                    await run.CancelAsync();
                    return;
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // One line per failed renewal while the database is away; the stack trace only at Debug.
                LogRenewalFailed(claim.RunId, DatabaseFaults.IsDatabaseFault(e) ? DatabaseFaults.Describe(e) : e.Message);
                LogRenewalFailure(e);
            }
        }
    }

    private sealed class LeaseRenewal(CancellationTokenSource stop, Task renewing)
    {
        public async Task StopAsync()
        {
            await stop.CancelAsync();
            await renewing;
            stop.Dispose();
        }
    }

    [LoggerMessage(LogLevel.Warning, "Asset refresh for {Day} not started: another attempt holds it, or it already went through")]
    private partial void LogNotStarted(string day);

    [LoggerMessage(LogLevel.Error, "Asset refresh for {Day} not started: {Reason}")]
    private partial void LogNotStartedDatabase(string day, string reason);

    [LoggerMessage(LogLevel.Error, "Asset refresh for {Day} failed on an unexpected error; recorded as failed")]
    private partial void LogRunCrashed(Exception exception, string day);

    [LoggerMessage(LogLevel.Error,
        "Could not record the outcome ({Status}) of asset refresh run {RunId}: {Reason}. Its lease goes stale after {LeaseTimeout}; the next start or trigger takes the day over")]
    private partial void LogOutcomeNotRecorded(long runId, BatchRunStatus status, string reason, TimeSpan leaseTimeout);

    [LoggerMessage(LogLevel.Information, "Asset refresh for {Day} starting (attempt {Attempt})")]
    private partial void LogStarting(string day, int attempt);

    [LoggerMessage(LogLevel.Warning, "Partition {Partition} of run {RunId} attempt {Attempt} is stale: a newer attempt holds the run; skipping")]
    private partial void LogStalePartition(long runId, int attempt, int partition);

    // A count and a range, not the list: after a long pause the list ran to hundreds of dates on every start.
    [LoggerMessage(LogLevel.Warning,
        "{Count} missed asset refresh days from {First} to {Last} are older than Batch:MaxCatchUpDays ({MaxCatchUpDays}) and were not run; `backfill` or the manual trigger runs them")]
    private partial void LogTooOld(int count, string first, string last, int maxCatchUpDays);

    [LoggerMessage(LogLevel.Error, "Asset refresh run {RunId} lost its lease to another attempt")]
    private partial void LogLeaseLost(long runId);

    [LoggerMessage(LogLevel.Warning, "Renewing the lease of asset refresh run {RunId} failed, trying again at the next renewal: {Reason}")]
    private partial void LogRenewalFailed(long runId, string reason);

    [LoggerMessage(LogLevel.Debug, "Lease renewal failure")]
    private partial void LogRenewalFailure(Exception exception);

    [LoggerMessage(LogLevel.Information,
        "Asset refresh for {Day} {Status}: total {Total}, success {Success}, skipped {Skipped}, failed {Failed} in {ElapsedMs} ms")]
    private partial void LogFinished(string day, string status, int total, int success, int skipped, int failed, long elapsedMs);
}
