using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Runs;

/// <summary>A day whose run went through, and when its outcome was recorded.</summary>
public sealed record DayThrough(DateOnly Day, DateTimeOffset? FinishedAt);

/// <summary>A job's first run on a database: the day it was for and when its first attempt started.</summary>
public sealed record FirstRun(DateOnly Day, DateTimeOffset StartedAt);

/// <summary>Where a run's lease stands at a renewal.</summary>
public enum LeaseState
{
    Held,
    /// <summary>Another attempt holds the run now.</summary>
    Lost,
    /// <summary>Still held, but an operator asked the run to stop.</summary>
    CancelRequested,
}

/// <summary>A claimed run: only the holder of <see cref="Owner"/> may renew or finish it.</summary>
public sealed record RunClaim(long RunId, int Attempt, string Owner);

/// <summary>
/// The persisted run history, and the lease that keeps a day from running twice at once across
/// processes: claiming is one atomic upsert that succeeds only if nobody holds a live lease.
/// </summary>
/// <remarks>
/// Every call works on a context of its own, never on the one of the scope it was resolved in:
/// the engine's bookkeeping (lease renewals and progress while a job works, its outcome after)
/// then shares no context or connection with a job's work, whatever the job does with the
/// scope's, and calls may overlap (a renewal beside an outcome being recorded).
/// </remarks>
/// <param name="reserve">An embedded database's room for the outcomes on a full disk (see <see cref="StorageReserve"/>); none on PostgreSQL.</param>
public sealed class BatchRunLedger(
    IDbContextFactory<BatchEngineDbContext> contexts, IOptions<BatchOptions> options, DatabaseRetry retry, RunRecorded recorded, TimeProvider time,
    StorageReserve? reserve = null)
{
    private string Node => options.Value.ResolveNodeName();

    public const int MaxTextLength = 2000;

    /// <param name="rerunCompleted">False for the scheduler: a day that went through is not run again.</param>
    /// <returns>The claim, or null when another attempt holds a live lease on that day (or it went through and may not be rerun).</returns>
    public async Task<RunClaim?> TryClaimAsync(string job, DateOnly day, bool rerunCompleted, CancellationToken cancellationToken)
    {
        // Before the run writes anything, so the reserve an earlier run gave up is there for this one's outcome.
        reserve?.Replenish();
        var now = time.GetUtcNow();
        var staleBefore = now - options.Value.LeaseTimeout;
        var owner = Guid.NewGuid().ToString("N");
        var node = Node;
        // SQLite and PostgreSQL share this upsert; the WHERE makes a live lease win. The claim and the attempt's own
        // record commit together: a claim whose attempt record failed (a full disk) would leave the day "running" with
        // no run to finish it. The unit is retried on transient faults with the same owner, so a try whose commit was
        // lost on the way back finds its own claim and takes it again without counting a second attempt.
        var claimed = await retry.ExecuteAsync("claim of the day", async token =>
        {
            await using var db = await contexts.CreateDbContextAsync(token);
            await using var transaction = await db.Database.BeginTransactionAsync(token);
            var rows = await db.Database.SqlQuery<ClaimRow>($"""
            INSERT INTO batch_runs (job_name, day, status, started_at, heartbeat_at, lease_owner, nodes, attempts, total, success, skipped, failed)
            VALUES ({job}, {day}, {nameof(BatchRunStatus.Running)}, {now}, {now}, {owner}, {node}, 1, 0, 0, 0, 0)
            ON CONFLICT (job_name, day) DO UPDATE
               SET status = excluded.status, started_at = excluded.started_at, finished_at = NULL,
                   heartbeat_at = excluded.heartbeat_at, lease_owner = excluded.lease_owner, error = NULL,
                   cancel_requested_at = NULL, cancel_reason = NULL,
                   attempts = batch_runs.attempts + CASE WHEN batch_runs.lease_owner = excluded.lease_owner THEN 0 ELSE 1 END,
                   nodes = CASE WHEN (',' || batch_runs.nodes || ',') LIKE ('%,' || excluded.nodes || ',%')
                                THEN batch_runs.nodes ELSE substr(batch_runs.nodes || ',' || excluded.nodes, 1, {MaxTextLength}) END
             WHERE (batch_runs.status <> {nameof(BatchRunStatus.Running)} OR batch_runs.heartbeat_at < {staleBefore}
                    OR batch_runs.lease_owner = {owner})
               AND ({rerunCompleted} OR batch_runs.status NOT IN ({nameof(BatchRunStatus.Completed)}, {nameof(BatchRunStatus.CompletedWithFailures)}, {nameof(BatchRunStatus.NothingToDo)}))
            RETURNING id, attempts
            """).ToListAsync(token);
            if (rows is [var row])
            {
                // The attempt's own record, kept when the next attempt replaces the run's counts; an earlier
                // attempt still "running" here is one whose process died (its lease went stale).
                await db.Database.ExecuteSqlAsync($"""
                    UPDATE batch_run_attempts SET status = {nameof(BatchRunStatus.Aborted)}
                     WHERE run_id = {row.Id} AND attempt < {row.Attempts} AND status = {nameof(BatchRunStatus.Running)}
                    """, token);
                await db.Database.ExecuteSqlAsync($"""
                    INSERT INTO batch_run_attempts (run_id, attempt, status, started_at, node, updated_at, expected, total, success, skipped, failed, not_due)
                    VALUES ({row.Id}, {row.Attempts}, {nameof(BatchRunStatus.Running)}, {now}, {node}, {now}, 0, 0, 0, 0, 0, 0)
                    ON CONFLICT (run_id, attempt) DO NOTHING
                    """, token);
            }
            await transaction.CommitAsync(token);
            return rows;
        }, cancellationToken);
        if (claimed is not [var row])
            return null;
        return new RunClaim(row.Id, row.Attempts, owner);
    }

    /// <summary>Renews the lease and writes the work's progress: on the attempt's record, or on its partition's in a cluster.</summary>
    /// <param name="partitionNo">The partition the progress is of; null for a run worked in one process.</param>
    /// <returns>
    /// <see cref="LeaseState.Held"/> when renewed; otherwise the caller must stop: the lease was lost to
    /// another process, or an operator asked the run to stop (<see cref="CancelReasonAsync"/> says why).
    /// </returns>
    public async Task<LeaseState> RenewAsync(RunClaim claim, int? partitionNo, RunProgressCounts progress, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        // The not-due count and the job's own counters too: an attempt that ends without recording its outcome
        // (a process killed) keeps them as its last renewal wrote them.
        var counters = progress.Counters.ToJson();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var held = db.BatchRuns.Where(r => r.Id == claim.RunId && r.LeaseOwner == claim.Owner && r.Status == BatchRunStatus.Running);
        var renewed = await held.Where(r => r.CancelRequestedAt == null)
            .ExecuteUpdateAsync(set => set.SetProperty(r => r.HeartbeatAt, now), cancellationToken) == 1;
        if (!renewed)
            return await held.AnyAsync(cancellationToken) ? LeaseState.CancelRequested : LeaseState.Lost;
        if (partitionNo is { } no)
        {
            await HeldPartition(db, claim, no).Where(p => p.Status == BatchPartitionStatus.Pending)
                .ExecuteUpdateAsync(set => set
                    .SetProperty(p => p.Expected, progress.Expected).SetProperty(p => p.Total, progress.Seen)
                    .SetProperty(p => p.Success, progress.Success).SetProperty(p => p.Skipped, progress.Skipped)
                    .SetProperty(p => p.Failed, progress.Failed).SetProperty(p => p.NotDue, progress.NotDue)
                    .SetProperty(p => p.Counters, counters), cancellationToken);
        }
        else
        {
            await db.BatchRunAttempts.Where(a => a.RunId == claim.RunId && a.Attempt == claim.Attempt && a.Status == BatchRunStatus.Running)
                .ExecuteUpdateAsync(set => set
                    .SetProperty(a => a.UpdatedAt, now).SetProperty(a => a.Expected, progress.Expected).SetProperty(a => a.Total, progress.Seen)
                    .SetProperty(a => a.Success, progress.Success).SetProperty(a => a.Skipped, progress.Skipped)
                    .SetProperty(a => a.Failed, progress.Failed).SetProperty(a => a.NotDue, progress.NotDue)
                    .SetProperty(a => a.Counters, counters), cancellationToken);
        }
        return LeaseState.Held;
    }

    /// <summary>Asks a running run to stop, wherever it works; it ends aborted and resumes on its next attempt.</summary>
    /// <param name="record">
    /// Writes what became of the request (the operator's audit row) on the same context and in the same
    /// transaction, told whether the cancel was taken: the run's end, which settles pending cancels in its
    /// own transaction on the run's row, then comes wholly before both or wholly after both.
    /// </param>
    /// <returns>What <paramref name="record"/> returned; it is told false when the run is not running (or a cancel was asked already).</returns>
    public async Task<T> RequestCancelAsync<T>(long runId, string reason,
        Func<BatchEngineDbContext, bool, CancellationToken, Task<T>> record, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var stored = StoredText.Clean(reason, 500);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var requested = await db.BatchRuns.Where(r => r.Id == runId && r.Status == BatchRunStatus.Running && r.CancelRequestedAt == null)
            .ExecuteUpdateAsync(set => set.SetProperty(r => r.CancelRequestedAt, now).SetProperty(r => r.CancelReason, stored), cancellationToken) == 1;
        var recorded = await record(db, requested, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return recorded;
    }

    /// <summary>Why the claim's run was asked to stop; null when it was not (or the claim no longer holds it).</summary>
    public async Task<string?> CancelReasonAsync(RunClaim claim, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.BatchRuns.AsNoTracking().Where(r => r.Id == claim.RunId && r.LeaseOwner == claim.Owner && r.CancelRequestedAt != null)
            .Select(r => r.CancelReason ?? "").FirstOrDefaultAsync(cancellationToken);
    }

    /// <summary>What a cancelled run records as its error.</summary>
    public static string CancelledBecause(string reason) => $"cancelled by an operator: {reason}";

    /// <returns>False when the lease was lost meanwhile: the newer attempt's record stands.</returns>
    /// <param name="expected">The work the attempt counted at its start; for a clustered run, the sum of its partitions'.</param>
    public async Task<bool> FinishAsync(RunClaim claim, BatchResult result, CancellationToken cancellationToken, int? expected = null)
    {
        var now = time.GetUtcNow();
        var error = StoredText.Clean(result.Error, MaxTextLength);
        var counters = result.Counters.ToJson();
        // One transaction: the run's row stays locked until its attempt's record is written too, so a
        // next attempt's claim (which marks earlier "running" attempts aborted) never sees the run
        // released with this attempt's record still unfinished.
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var finished = await db.BatchRuns
            .Where(r => r.Id == claim.RunId && r.LeaseOwner == claim.Owner)
            .ExecuteUpdateAsync(set => set
                .SetProperty(r => r.Status, result.Status)
                .SetProperty(r => r.FinishedAt, now)
                .SetProperty(r => r.HeartbeatAt, now)
                .SetProperty(r => r.LeaseOwner, (string?)null)
                .SetProperty(r => r.Total, result.Total)
                .SetProperty(r => r.Success, result.Success)
                .SetProperty(r => r.Skipped, result.Skipped)
                .SetProperty(r => r.Failed, result.Failed)
                .SetProperty(r => r.Counters, counters)
                .SetProperty(r => r.Error, error), cancellationToken) == 1;
        if (!finished)
            return false;
        // The attempt keeps its outcome; what it counted at its start stays as its progress wrote it
        // (a clustered run's is the sum of its partitions').
        expected ??= await db.BatchRunPartitions.Where(p => p.RunId == claim.RunId).SumAsync(p => (int?)p.Expected, cancellationToken);
        await db.BatchRunAttempts.Where(a => a.RunId == claim.RunId && a.Attempt == claim.Attempt)
            .ExecuteUpdateAsync(set => set
                .SetProperty(a => a.Status, result.Status).SetProperty(a => a.UpdatedAt, now).SetProperty(a => a.FinishedAt, now)
                .SetProperty(a => a.Expected, a => expected ?? a.Expected)
                .SetProperty(a => a.Total, result.Total).SetProperty(a => a.Success, result.Success)
                .SetProperty(a => a.Skipped, result.Skipped).SetProperty(a => a.Failed, result.Failed)
                .SetProperty(a => a.NotDue, result.NotDue).SetProperty(a => a.Counters, counters)
                .SetProperty(a => a.Error, error), cancellationToken);
        await OperatorActions.SettleCancelsAsync(db, claim.RunId, result, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        recorded.Raise();
        return true;
    }

    /// <summary>
    /// <see cref="FinishAsync"/>, retried while the database is unreachable for up to
    /// Batch:RecordOutcomeTimeout, so an outage does not leave the run "running" for its lease's length.
    /// </summary>
    /// <remarks>
    /// Throws the last fault (see <see cref="DatabaseFaults"/>) when the database stayed unreachable; the run's lease then goes stale.
    /// On a full disk the storage reserve, when there is one, is given up and the record tried once more: waiting frees
    /// no disk, and the run whose work filled it must not stay "running" for its lease's length.
    /// </remarks>
    public async Task<bool> RecordOutcomeAsync(RunClaim claim, BatchResult result, CancellationToken cancellationToken, int? expected = null)
    {
        try
        {
            return await RecordOutcomeOnceAsync();
        }
        catch (Exception e) when (DatabaseFaults.StorageRefusalOf(e) == StorageRefusal.Full && reserve?.Release() == true)
        {
            return await RecordOutcomeOnceAsync();
        }

        Task<bool> RecordOutcomeOnceAsync() => retry.ExecuteAsync("record of the run's outcome", options.Value.RecordOutcomeTimeout,
            token => FinishAsync(claim, result, token, expected), cancellationToken);
    }

    /// <summary>Every attempt at the run, first first.</summary>
    public async Task<List<BatchRunAttempt>> AttemptsAsync(long runId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.BatchRunAttempts.AsNoTracking().Where(a => a.RunId == runId).OrderBy(a => a.Attempt).ToListAsync(cancellationToken);
    }

    /// <summary>Each run's day over all its attempts (<see cref="RunDayView"/>), read in one query whatever the number of runs.</summary>
    public async Task<IReadOnlyDictionary<long, RunDayView>> DaysAsync(IReadOnlyCollection<BatchRun> runs, CancellationToken cancellationToken)
    {
        if (runs.Count == 0)
            return new Dictionary<long, RunDayView>();
        var attempts = await AttemptsAsync(runs.Select(r => r.Id).ToList(), cancellationToken);
        return runs.ToDictionary(r => r.Id, r => RunDayView.Of(r, attempts[r.Id].ToList()));
    }

    /// <summary>Every attempt at each of the runs, first first, in one query.</summary>
    public async Task<ILookup<long, BatchRunAttempt>> AttemptsAsync(IReadOnlyCollection<long> runIds, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return (await db.BatchRunAttempts.AsNoTracking().Where(a => runIds.Contains(a.RunId)).OrderBy(a => a.RunId).ThenBy(a => a.Attempt)
            .ToListAsync(cancellationToken)).ToLookup(a => a.RunId);
    }

    /// <summary>A clustered run's current attempt as its partitions report it, summed; null when the run has no partitions.</summary>
    public async Task<RunProgressCounts?> PartitionProgressAsync(long runId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var partitions = await db.BatchRunPartitions.AsNoTracking().Where(p => p.RunId == runId)
            .Select(p => new { p.Expected, p.Total, p.Success, p.Skipped, p.Failed }).ToListAsync(cancellationToken);
        return partitions.Count == 0 ? null : new RunProgressCounts(partitions.Sum(p => p.Expected), partitions.Sum(p => p.Total),
            partitions.Sum(p => p.Success), partitions.Sum(p => p.Skipped), partitions.Sum(p => p.Failed));
    }

    public async Task<BatchRun?> FindAsync(long id, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.BatchRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id, cancellationToken);
    }

    public async Task<BatchRun?> FindAsync(string job, DateOnly day, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.BatchRuns.AsNoTracking().SingleOrDefaultAsync(r => r.JobName == job && r.Day == day, cancellationToken);
    }

    public async Task<List<BatchRun>> ListAsync(string job, DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.BatchRuns.AsNoTracking()
            .Where(r => r.JobName == job && r.Day >= from && r.Day <= to)
            .OrderByDescending(r => r.Day)
            .ToListAsync(cancellationToken);
    }

    /// <summary>
    /// The job's first run on this database: the day it was for and when it started; null when it never ran here.
    /// The first run recorded is the one with the lowest id; its first attempt keeps the start that
    /// later attempts overwrite on the run itself (a run from before attempts were recorded has only that).
    /// </summary>
    public async Task<FirstRun?> FirstRunAsync(string job, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var first = await db.BatchRuns.AsNoTracking()
            .Where(r => r.JobName == job)
            .OrderBy(r => r.Id)
            .Select(r => new
            {
                r.Day,
                r.StartedAt,
                FirstAttempt = db.BatchRunAttempts.Where(a => a.RunId == r.Id).OrderBy(a => a.Attempt).Select(a => (DateTimeOffset?)a.StartedAt).FirstOrDefault(),
            })
            .FirstOrDefaultAsync(cancellationToken);
        return first is null ? null : new FirstRun(first.Day, first.FirstAttempt ?? first.StartedAt);
    }

    /// <summary>The latest day whose run went through (with or without failed users) and when it finished; null when none did.</summary>
    public async Task<DayThrough?> LastThroughAsync(string job, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.BatchRuns.AsNoTracking()
            .Where(r => r.JobName == job && (r.Status == BatchRunStatus.Completed || r.Status == BatchRunStatus.CompletedWithFailures || r.Status == BatchRunStatus.NothingToDo))
            .OrderByDescending(r => r.Day)
            .Select(r => new DayThrough(r.Day, r.FinishedAt))
            .FirstOrDefaultAsync(cancellationToken);
    }

    /// <summary>Days in the range whose run went through (with or without failed users).</summary>
    public async Task<HashSet<DateOnly>> CompletedDaysAsync(string job, DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return (await db.BatchRuns.AsNoTracking()
            .Where(r => r.JobName == job && r.Day >= from && r.Day <= to
                        && (r.Status == BatchRunStatus.Completed || r.Status == BatchRunStatus.CompletedWithFailures || r.Status == BatchRunStatus.NothingToDo))
            .Select(r => r.Day)
            .ToListAsync(cancellationToken)).ToHashSet();
    }

    /// <summary>
    /// Replaces the run's partitions with this plan for a new attempt: its counts are the latest
    /// attempt's, and users an earlier attempt finished are skipped as done.
    /// </summary>
    public async Task<List<BatchRunPartition>> PlanPartitionsAsync(long runId, IReadOnlyList<IdRange> ranges, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.BatchRunPartitions.Where(p => p.RunId == runId).ExecuteDeleteAsync(cancellationToken);
        var pending = ranges.Select((range, i) => new BatchRunPartition
        {
            RunId = runId, PartitionNo = i, FirstUserId = range.First, LastUserId = range.Last, Status = BatchPartitionStatus.Pending,
        }).ToList();
        db.BatchRunPartitions.AddRange(pending);
        await db.SaveChangesAsync(cancellationToken);
        return pending;
    }

    /// <summary>Marks which node works on a partition (it stays pending until it finishes).</summary>
    /// <returns>False when the claim's attempt no longer holds the run: the partition belongs to a newer attempt.</returns>
    public async Task<bool> TryTakePartitionAsync(RunClaim claim, int partitionNo, CancellationToken cancellationToken)
    {
        var node = Node;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // A run asked to stop takes no more partitions: those still queued end at once (see BatchRunLifecycle).
        return await HeldPartition(db, claim, partitionNo)
            .Where(p => db.BatchRuns.Any(r => r.Id == claim.RunId && r.CancelRequestedAt == null))
            .ExecuteUpdateAsync(set => set.SetProperty(p => p.Node, node), cancellationToken) == 1;
    }

    /// <summary>Records a partition's outcome and the node's name on the run, if the claim still holds the run.</summary>
    /// <returns>True when no partition of the run is pending any more; null when the lease was lost.</returns>
    public async Task<bool?> FinishPartitionAsync(
        RunClaim claim, int partitionNo, BatchPartitionStatus status, BatchResult result, int expected, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var node = Node;
        var error = StoredText.Clean(result.Error, MaxTextLength);
        var counters = result.Counters.ToJson();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var updated = await HeldPartition(db, claim, partitionNo)
            .ExecuteUpdateAsync(set => set
                .SetProperty(p => p.Status, status).SetProperty(p => p.Node, node).SetProperty(p => p.FinishedAt, now)
                .SetProperty(p => p.Expected, expected).SetProperty(p => p.Total, result.Total).SetProperty(p => p.Success, result.Success)
                .SetProperty(p => p.Skipped, result.Skipped).SetProperty(p => p.Failed, result.Failed)
                .SetProperty(p => p.NotDue, result.NotDue).SetProperty(p => p.Counters, counters)
                .SetProperty(p => p.Error, error), cancellationToken);
        if (updated == 0)
            return null;
        await db.Database.ExecuteSqlAsync($"""
            UPDATE batch_runs
               SET nodes = CASE WHEN (',' || nodes || ',') LIKE ('%,' || {node} || ',%') THEN nodes ELSE substr(nodes || ',' || {node}, 1, {MaxTextLength}) END
             WHERE id = {claim.RunId}
            """, cancellationToken);
        return !await db.BatchRunPartitions.AnyAsync(p => p.RunId == claim.RunId && p.Status == BatchPartitionStatus.Pending, cancellationToken);
    }

    /// <summary><see cref="FinishPartitionAsync"/> (repeatable as a whole), retried as <see cref="RecordOutcomeAsync"/> is.</summary>
    /// <remarks>Throws the last fault (see <see cref="DatabaseFaults"/>) when the database stayed unreachable; the run's lease then goes stale.</remarks>
    public Task<bool?> RecordPartitionOutcomeAsync(
        RunClaim claim, int partitionNo, BatchPartitionStatus status, BatchResult result, int expected, CancellationToken cancellationToken) =>
        retry.ExecuteAsync("record of the partition's outcome", options.Value.RecordOutcomeTimeout,
            token => FinishPartitionAsync(claim, partitionNo, status, result, expected, token), cancellationToken);

    private static IQueryable<BatchRunPartition> HeldPartition(BatchEngineDbContext db, RunClaim claim, int partitionNo) =>
        db.BatchRunPartitions.Where(p => p.RunId == claim.RunId && p.PartitionNo == partitionNo
                                         && db.BatchRuns.Any(r => r.Id == claim.RunId && r.LeaseOwner == claim.Owner));

    /// <summary>The run's outcome summed over its partitions.</summary>
    public async Task<BatchResult> SumPartitionsAsync(long runId, DateOnly day, int attempt, long elapsedMs, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var partitions = await db.BatchRunPartitions.AsNoTracking().Where(p => p.RunId == runId).ToListAsync(cancellationToken);
        var cancelReason = await db.BatchRuns.AsNoTracking().Where(r => r.Id == runId && r.CancelRequestedAt != null)
            .Select(r => r.CancelReason ?? "").FirstOrDefaultAsync(cancellationToken);
        var error = cancelReason is not null ? CancelledBecause(cancelReason) : partitions.FirstOrDefault(p => p.Status == BatchPartitionStatus.Failed)?.Error;
        var (total, failed, notDue) = (partitions.Sum(p => p.Total), partitions.Sum(p => p.Failed), partitions.Sum(p => p.NotDue));
        var status = cancelReason is not null ? BatchRunStatus.Aborted : BatchOutcome.StatusOf(error is not null, total, failed, notDue);
        return new BatchResult(day, status, total, partitions.Sum(p => p.Success), partitions.Sum(p => p.Skipped),
            failed, elapsedMs, error, runId, attempt, notDue)
        {
            Counters = BatchCounters.Sum(partitions.Select(p => BatchCounters.FromJson(p.Counters))),
        };
    }

    private sealed record ClaimRow(long Id, int Attempts);
}
