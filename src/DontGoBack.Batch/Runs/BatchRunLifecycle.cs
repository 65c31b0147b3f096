using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Telemetry;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Runs;

/// <summary>
/// The life of one run or partition of any daily job, written once: claim the day's lease (or the
/// partition), renew it while the work goes on, time it, map its outcome to a status and record
/// it — retried through database outages — and finalise a clustered run with the last partition.
/// Every run passes through here, so what is measured of runs belongs here.
/// </summary>
public sealed partial class BatchRunLifecycle(
    BatchRunLedger ledger, RunLease lease, BatchMetrics metrics, IOptions<BatchOptions> options, IHostApplicationLifetime lifetime, TimeProvider time,
    RunsInFlight inFlight, ILogger<BatchRunLifecycle> logger)
{
    /// <summary>Runs <paramref name="work"/> for one day as a recorded run under <paramref name="runName"/>.</summary>
    /// <param name="rerunCompleted">False for the schedule: a day that went through is not run again.</param>
    /// <param name="followProgress">Handed the run's progress once it is claimed, before the work starts: how a caller (the CLI) shows it.</param>
    /// <returns>The result, or null when another attempt (here or in another process) holds the day, or it went through and may not be rerun.</returns>
    /// <exception cref="OperationCanceledException">The caller or shutdown stopped the run; it is recorded aborted first.</exception>
    public async Task<BatchResult?> RunAsync(
        DailyJobDefinition job, string runName, DateOnly day, bool rerunCompleted, Func<RunProgress, CancellationToken, Task<BatchOutcome>> work,
        CancellationToken cancellationToken, Action<RunProgress>? followProgress = null)
    {
        using var counted = inFlight.Enter();
        var started = time.GetTimestamp();
        RunClaim? claim;
        try
        {
            claim = await ledger.TryClaimAsync(runName, day, rerunCompleted, cancellationToken);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            // Nothing was claimed, so nothing is left running: the run just cannot start now.
            var why = DatabaseFaults.Describe(e);
            LogNotStartedDatabase(job.Title, day.ToString("O"), why);
            return new BatchResult(day, BatchRunStatus.Failed, 0, 0, 0, 0, Elapsed(started), why);
        }
        if (claim is null)
        {
            LogNotStarted(job.Title, day.ToString("O"));
            return null;
        }

        LogStarting(job.Title, day.ToString("O"), claim.Attempt);
        // The run's one count of its users: the work reports to it, the meter, the lease and the caller read it.
        var progress = new RunProgress(runName, RunName(runName, claim), metrics);
        using var telemetry = metrics.StartRun(runName, day, claim, progress);
        followProgress?.Invoke(progress);
        var (outcome, stopped) = await WorkUnderLeaseAsync(claim, null, progress, work, cancellationToken);
        var result = outcome.ToResult(day, stopped?.Status ?? outcome.Status, Elapsed(started), claim.RunId, claim.Attempt);
        var recorded = await RecordAsync(job, claim, result, progress.Snapshot().Expected);
        if (recorded is true)
            telemetry.RunRecorded(result);
        if (recorded is false)
            LogLeaseLost(job.LowerTitle, claim.RunId);
        if (recorded is null)
            result = result with { Status = BatchRunStatus.Failed, Error = OutcomeNotRecorded(result) };
        if (stopped is { Status: BatchRunStatus.Aborted, ByOperator: false })
            stopped.Rethrow();
        if (stopped is { ByOperator: false })
            LogRunCrashed(stopped.Exception, job.Title, day.ToString("O"));
        LogFinished(job.Title, day.ToString("O"), result.Status.ToText(), result.Total, result.Success, result.Skipped, result.Failed, result.ElapsedMs);
        return result;
    }

    /// <summary>
    /// Clustered mode: runs one partition of a fanned-out day under the run's lease; the partition
    /// that leaves none pending finalises the run with the counts of all of them.
    /// </summary>
    /// <returns>The run's result when this partition finalised it; null otherwise (others pending, a stale partition, a lost lease).</returns>
    public async Task<BatchResult?> RunPartitionAsync(
        DailyJobDefinition job, RunClaim claim, DateOnly day, int partitionNo, Func<RunProgress, CancellationToken, Task<BatchOutcome>> work,
        CancellationToken cancellationToken)
    {
        using var counted = inFlight.Enter();
        if (!await ledger.TryTakePartitionAsync(claim, partitionNo, cancellationToken))
        {
            if (await ledger.CancelReasonAsync(claim, cancellationToken) is { } reason)
                return await EndCancelledPartitionAsync(job, claim, day, partitionNo, reason);
            LogStalePartition(claim.RunId, claim.Attempt, partitionNo);
            return null;
        }

        var started = time.GetTimestamp();
        var progress = new RunProgress(job.Name, RunName(job.Name, claim), metrics);
        using var telemetry = metrics.StartPartition(job.Name, day, claim, partitionNo, progress);
        var (outcome, stopped) = await WorkUnderLeaseAsync(claim, partitionNo, progress, work, cancellationToken);
        // A partition that cannot finish fails the run rather than leaving it pending until the lease goes stale.
        var partition = outcome.ToResult(day, stopped?.Status ?? (outcome.StoppedBecause is null ? BatchRunStatus.Completed : BatchRunStatus.Failed),
            Elapsed(started));
        BatchResult result;
        try
        {
            var lastOne = await ledger.RecordPartitionOutcomeAsync(claim, partitionNo,
                partition.Status == BatchRunStatus.Completed ? BatchPartitionStatus.Done : BatchPartitionStatus.Failed, partition,
                progress.Snapshot().Expected, CancellationToken.None);
            if (lastOne is not null)
                telemetry.PartitionRecorded(partition);
            if (lastOne is not true)
                return null;

            var startedAt = (await ledger.FindAsync(claim.RunId, CancellationToken.None))!.StartedAt;
            result = await ledger.SumPartitionsAsync(claim.RunId, day, claim.Attempt,
                (long)(time.GetUtcNow() - startedAt).TotalMilliseconds, CancellationToken.None);
            if (await ledger.RecordOutcomeAsync(claim, result, CancellationToken.None))
                telemetry.RunRecorded(result);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            LogOutcomeNotRecorded(job.LowerTitle, claim.RunId, partition.Status, DatabaseFaults.Describe(e), options.Value.LeaseTimeout);
            return null;
        }
        LogFinished(job.Title, day.ToString("O"), result.Status.ToText(), result.Total, result.Success, result.Skipped, result.Failed, result.ElapsedMs);
        return result;
    }

    /// <summary>
    /// A partition of a run an operator cancelled before it started: it ends without work, and the
    /// last one to end records the run as aborted, so a cancelled run does not wait for its lease to go stale.
    /// </summary>
    private async Task<BatchResult?> EndCancelledPartitionAsync(DailyJobDefinition job, RunClaim claim, DateOnly day, int partitionNo, string reason)
    {
        var nothing = new BatchResult(day, BatchRunStatus.Aborted, 0, 0, 0, 0, 0, BatchRunLedger.CancelledBecause(reason));
        try
        {
            if (await ledger.RecordPartitionOutcomeAsync(claim, partitionNo, BatchPartitionStatus.Failed, nothing, 0, CancellationToken.None) is not true)
                return null;
            var startedAt = (await ledger.FindAsync(claim.RunId, CancellationToken.None))!.StartedAt;
            var result = await ledger.SumPartitionsAsync(claim.RunId, day, claim.Attempt, (long)(time.GetUtcNow() - startedAt).TotalMilliseconds,
                CancellationToken.None);
            await ledger.RecordOutcomeAsync(claim, result, CancellationToken.None);
            LogFinished(job.Title, day.ToString("O"), result.Status.ToText(), result.Total, result.Success, result.Skipped, result.Failed, result.ElapsedMs);
            return result;
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            LogOutcomeNotRecorded(job.LowerTitle, claim.RunId, BatchRunStatus.Aborted, DatabaseFaults.Describe(e), options.Value.LeaseTimeout);
            return null;
        }
    }

    /// <summary>A clustered run with nothing (left) to partition is finished at once with the sum of what its partitions did.</summary>
    public async Task<BatchResult> FinishWithoutPartitionsAsync(RunClaim claim, DateOnly day, CancellationToken cancellationToken)
    {
        var result = await ledger.SumPartitionsAsync(claim.RunId, day, claim.Attempt, 0, cancellationToken);
        await ledger.FinishAsync(claim, result, cancellationToken);
        return result;
    }

    /// <summary>
    /// The work with its lease renewed and its progress written meanwhile. Shutdown (SIGTERM) stops
    /// it too: no new ids are taken, calls in flight are abandoned, and the run is left aborted to
    /// resume. Work that ends in an exception counts what it reported until then.
    /// </summary>
    private async Task<(BatchOutcome Outcome, Stop? Stopped)> WorkUnderLeaseAsync(
        RunClaim claim, int? partitionNo, RunProgress progress, Func<RunProgress, CancellationToken, Task<BatchOutcome>> work,
        CancellationToken cancellationToken)
    {
        using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        // Stopped when the work ends, before its outcome is recorded: no renewal comes after the outcome.
        // Renewals run beside the work on contexts of the ledger's own (see BatchRunLedger), never on the job's.
        await using var renewal = lease.Hold(claim, run, progress, partitionNo);
        try
        {
            return (await work(progress, run.Token), null);
        }
        catch (Exception e)
        {
            var aborted = e is OperationCanceledException && run.IsCancellationRequested;
            var why = !aborted ? DatabaseFaults.IsDatabaseFault(e) ? DatabaseFaults.Describe(e) : e.Message
                : cancellationToken.IsCancellationRequested || lifetime.ApplicationStopping.IsCancellationRequested ? "stopped before the run was through"
                : renewal.CancelReason is { } reason ? BatchRunLedger.CancelledBecause(reason)
                : "lease lost to another attempt";
            return (progress.Snapshot().ToOutcome(why),
                new Stop(aborted ? BatchRunStatus.Aborted : BatchRunStatus.Failed, e, ByOperator: aborted && renewal.CancelReason is not null));
        }
    }

    /// <summary>Why the work ended in an exception: aborted (cancelled: passed on once recorded) or failed (answered as a failed run).</summary>
    /// <param name="ByOperator">An operator cancelled the run: it ends aborted as an answer, not as an exception (nothing is shutting down).</param>
    private sealed record Stop(BatchRunStatus Status, Exception Exception, bool ByOperator = false)
    {
        public void Rethrow() => System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(Exception).Throw();
    }

    /// <summary>Records the run's outcome without the caller's token (the row must not stay "running"), retried while the database is away.</summary>
    /// <returns>False when the lease was lost meanwhile; null when the database stayed unreachable.</returns>
    private async Task<bool?> RecordAsync(DailyJobDefinition job, RunClaim claim, BatchResult result, int expected)
    {
        try
        {
            return await ledger.RecordOutcomeAsync(claim, result, CancellationToken.None, expected);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            LogOutcomeNotRecorded(job.LowerTitle, claim.RunId, result.Status, DatabaseFaults.Describe(e), options.Value.LeaseTimeout);
            return null;
        }
    }

    /// <summary>A run whose outcome could not be recorded is not done as far as the schedule knows: it counts as failed.</summary>
    private static string OutcomeNotRecorded(BatchResult result) => result.Error is null
        ? $"the run went through ({JsonSerializer.Serialize(result.Status).Trim('"')}), but its outcome could not be recorded: database unavailable"
        : $"{result.Error}; its outcome could not be recorded";

    /// <summary>How log lines name an attempt of a run, whichever partition of it they come from.</summary>
    private static string RunName(string runName, RunClaim claim) => $"{runName} run {claim.RunId} attempt {claim.Attempt}";

    private long Elapsed(long started) => (long)time.GetElapsedTime(started).TotalMilliseconds;

    [LoggerMessage(LogLevel.Warning, "{Job} for {Day} not started: another attempt holds it, or it already went through")]
    private partial void LogNotStarted(string job, string day);

    [LoggerMessage(LogLevel.Error, "{Job} for {Day} not started: {Reason}")]
    private partial void LogNotStartedDatabase(string job, string day, string reason);

    [LoggerMessage(LogLevel.Error, "{Job} for {Day} failed on an unexpected error; recorded as failed")]
    private partial void LogRunCrashed(Exception exception, string job, string day);

    [LoggerMessage(LogLevel.Error,
        "Could not record the outcome ({Status}) of {Job} run {RunId}: {Reason}. Its lease goes stale after {LeaseTimeout}; the next start or trigger takes the day over")]
    private partial void LogOutcomeNotRecorded(string job, long runId, BatchRunStatus status, string reason, TimeSpan leaseTimeout);

    [LoggerMessage(LogLevel.Information, "{Job} for {Day} starting (attempt {Attempt})")]
    private partial void LogStarting(string job, string day, int attempt);

    [LoggerMessage(LogLevel.Warning, "Partition {Partition} of run {RunId} attempt {Attempt} is stale: a newer attempt holds the run; skipping")]
    private partial void LogStalePartition(long runId, int attempt, int partition);

    [LoggerMessage(LogLevel.Error, "{Job} run {RunId} lost its lease to another attempt")]
    private partial void LogLeaseLost(string job, long runId);

    [LoggerMessage(LogLevel.Information, "{Job} for {Day} {Status}: total {Total}, success {Success}, skipped {Skipped}, failed {Failed} in {ElapsedMs} ms")]
    private partial void LogFinished(string job, string day, string status, int total, int success, int skipped, int failed, long elapsedMs);
}
