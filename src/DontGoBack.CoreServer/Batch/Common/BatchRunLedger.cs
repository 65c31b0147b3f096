using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>A claimed run: only the holder of <see cref="Owner"/> may renew or finish it.</summary>
public sealed record RunClaim(long RunId, int Attempt, string Owner);

/// <summary>
/// The persisted run history, and the lease that keeps a day from running twice at once across
/// processes: claiming is one atomic upsert that succeeds only if nobody holds a live lease.
/// </summary>
public sealed class BatchRunLedger(DontGoBackDbContext db, IOptions<BatchOptions> options, TimeProvider time)
{
    private string Node => options.Value.ResolveNodeName();

    /// <returns>The claim, or null when another attempt holds a live lease on that day.</returns>
    public async Task<RunClaim?> TryClaimAsync(string job, DateOnly day, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var staleBefore = now - options.Value.LeaseTimeout;
        var owner = Guid.NewGuid().ToString("N");
        var node = Node;
        // SQLite and PostgreSQL share this upsert; the WHERE makes a live lease win.
        var claimed = await db.Database.SqlQuery<ClaimRow>($"""
            INSERT INTO batch_runs (job_name, snapshot_day, status, started_at, heartbeat_at, lease_owner, nodes, attempts, total, success, skipped, failed)
            VALUES ({job}, {day}, {nameof(BatchRunStatus.Running)}, {now}, {now}, {owner}, {node}, 1, 0, 0, 0, 0)
            ON CONFLICT (job_name, snapshot_day) DO UPDATE
               SET status = excluded.status, started_at = excluded.started_at, finished_at = NULL,
                   heartbeat_at = excluded.heartbeat_at, lease_owner = excluded.lease_owner, error = NULL,
                   attempts = batch_runs.attempts + 1,
                   nodes = CASE WHEN (',' || batch_runs.nodes || ',') LIKE ('%,' || excluded.nodes || ',%')
                                THEN batch_runs.nodes ELSE batch_runs.nodes || ',' || excluded.nodes END
             WHERE batch_runs.status <> {nameof(BatchRunStatus.Running)} OR batch_runs.heartbeat_at < {staleBefore}
            RETURNING id, attempts
            """).ToListAsync(cancellationToken);
        return claimed is [var row] ? new RunClaim(row.Id, row.Attempts, owner) : null;
    }

    /// <returns>False when the lease was lost to another process: the caller must stop.</returns>
    public async Task<bool> RenewAsync(RunClaim claim, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        return await db.BatchRuns
            .Where(r => r.Id == claim.RunId && r.LeaseOwner == claim.Owner && r.Status == BatchRunStatus.Running)
            .ExecuteUpdateAsync(set => set.SetProperty(r => r.HeartbeatAt, now), cancellationToken) == 1;
    }

    public async Task FinishAsync(RunClaim claim, BatchResult result, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await db.BatchRuns
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
                .SetProperty(r => r.Error, result.Error), cancellationToken);
    }

    public Task<BatchRun?> FindAsync(long id, CancellationToken cancellationToken) =>
        db.BatchRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id, cancellationToken);

    public Task<BatchRun?> FindAsync(string job, DateOnly day, CancellationToken cancellationToken) =>
        db.BatchRuns.AsNoTracking().SingleOrDefaultAsync(r => r.JobName == job && r.SnapshotDay == day, cancellationToken);

    public Task<List<BatchRun>> ListAsync(string job, DateOnly from, DateOnly to, CancellationToken cancellationToken) =>
        db.BatchRuns.AsNoTracking()
            .Where(r => r.JobName == job && r.SnapshotDay >= from && r.SnapshotDay <= to)
            .OrderByDescending(r => r.SnapshotDay)
            .ToListAsync(cancellationToken);

    /// <summary>The first day the job ever ran for, or null when it never ran here.</summary>
    public Task<DateOnly?> FirstDayAsync(string job, CancellationToken cancellationToken) =>
        db.BatchRuns.AsNoTracking().Where(r => r.JobName == job).MinAsync(r => (DateOnly?)r.SnapshotDay, cancellationToken);

    /// <summary>Days in the range whose run went through (with or without failed users).</summary>
    public async Task<HashSet<DateOnly>> CompletedDaysAsync(string job, DateOnly from, DateOnly to, CancellationToken cancellationToken) =>
        (await db.BatchRuns.AsNoTracking()
            .Where(r => r.JobName == job && r.SnapshotDay >= from && r.SnapshotDay <= to
                        && (r.Status == BatchRunStatus.Completed || r.Status == BatchRunStatus.CompletedWithFailures))
            .Select(r => r.SnapshotDay)
            .ToListAsync(cancellationToken)).ToHashSet();

    private sealed record ClaimRow(long Id, int Attempts);
}
