using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Quartz;

namespace DontGoBack.Batch.Schedule;

/// <summary>
/// A job's pause: its row in batch_schedule_pauses is the one source of truth, changed only under a
/// cluster-wide lock per job, and Quartz's cron trigger is made to follow it (paused when the row is
/// there, running when it is not) under the same lock, after every change and at start-up. Two
/// operators pausing and resuming at once therefore leave the trigger as the last change's row says,
/// and a trigger paused behind the row's back (or a row written behind the trigger's) is set right
/// on the next start.
/// </summary>
public sealed partial class SchedulePauses(
    BatchEngineDbContext db, ISchedulerFactory schedulers, SchedulePauseGate gate, ILogger<SchedulePauses> logger)
{
    /// <summary>The first key of PostgreSQL's two-key advisory locks taken here; the second is the job's (see <see cref="LockKey"/>).</summary>
    private const int LockClass = 0x44474250;

    /// <summary>Pauses (or resumes) the job: the row is written or removed, and the trigger follows it.</summary>
    /// <param name="record">
    /// Writes what became of the request (its audit row) in the same transaction, under the same lock, told whether
    /// the row changed (false: already paused, not paused; the trigger is made to follow the row all the same): the
    /// audit trail then orders racing pauses and resumes as the row saw them.
    /// </param>
    public Task<T> SetAsync<T>(DailyJobDefinition job, SchedulePause? pause, Func<bool, CancellationToken, Task<T>> record,
        CancellationToken cancellationToken) =>
        UnderLockAsync(job, async token =>
        {
            var changed = pause is not null
                // Insert-if-absent: under the lock it cannot conflict, but the key stays the last line of defence.
                ? await db.Database.ExecuteSqlAsync($"""
                    INSERT INTO batch_schedule_pauses (job_name, paused_at, reason, address, token_name)
                    VALUES ({pause.JobName}, {pause.PausedAt}, {pause.Reason}, {pause.Address}, {pause.TokenName})
                    ON CONFLICT (job_name) DO NOTHING
                    """, token) == 1
                : await db.SchedulePauses.Where(p => p.JobName == job.Name).ExecuteDeleteAsync(token) == 1;
            // A refused change (already paused, not paused) still sets a trigger that had drifted from the row.
            if (await FollowAsync(job, paused: pause is not null, token) && !changed)
                LogReconciled(job.Name, pause is not null ? "paused: its pause row is there" : "resumed: no pause row backs its pause");
            return await record(changed, token);
        }, cancellationToken);

    /// <summary>Makes each job's trigger follow its row (start-up, where a clustered store may have kept a state that no row backs).</summary>
    public async Task ReconcileAsync(IEnumerable<DailyJobDefinition> jobs, CancellationToken cancellationToken)
    {
        foreach (var job in jobs)
        {
            var (paused, changed) = await UnderLockAsync(job, async token =>
            {
                var paused = await db.SchedulePauses.AnyAsync(p => p.JobName == job.Name, token);
                return (paused, await FollowAsync(job, paused, token));
            }, cancellationToken);
            if (changed)
                LogReconciled(job.Name, paused ? "paused: its pause row is there" : "resumed: no pause row backs its pause");
        }
    }

    /// <summary>Sets the trigger as the row says, if the job has a trigger (a job turned off has none).</summary>
    /// <returns>Whether the trigger had to change.</returns>
    private async Task<bool> FollowAsync(DailyJobDefinition job, bool paused, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        var state = await scheduler.GetTriggerState(job.CronKey, cancellationToken);
        if (state == TriggerState.None || (state == TriggerState.Paused) == paused)
            return false;
        if (paused)
            await scheduler.PauseTrigger(job.CronKey, cancellationToken);
        else
            await scheduler.ResumeTrigger(job.CronKey, cancellationToken);
        return true;
    }

    /// <summary>
    /// Runs <paramref name="work"/> under the job's lock (<see cref="LockedAsync"/>). Should it fail after
    /// the trigger followed a row that was then not committed, the trigger follows the row as stored.
    /// </summary>
    private async Task<T> UnderLockAsync<T>(DailyJobDefinition job, Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        using var inLine = await gate.EnterAsync(job.Name, cancellationToken);
        try
        {
            return await LockedAsync(work, job, cancellationToken);
        }
        catch
        {
            // Cancelled or failed, the trigger may have followed a row that was then not committed.
            try
            {
                db.ChangeTracker.Clear();
                await LockedAsync(async token => await FollowAsync(job, await db.SchedulePauses.AnyAsync(p => p.JobName == job.Name, token), token),
                    job, CancellationToken.None);
            }
            catch (Exception again)
            {
                // The next change or start-up sets it right.
                LogNotReconciled(job.Name, DatabaseFaults.IsDatabaseFault(again) ? DatabaseFaults.Describe(again) : again.Message);
            }
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> in a transaction that holds the job's lock: PostgreSQL's advisory
    /// transaction lock (every replica shares it), SQLite's write lock (BEGIN IMMEDIATE, one writer per file).
    /// </summary>
    private async Task<T> LockedAsync<T>(Func<CancellationToken, Task<T>> work, DailyJobDefinition job, CancellationToken cancellationToken)
    {
        // Microsoft.Data.Sqlite begins IMMEDIATE unless asked for a deferred transaction.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (db.Database.IsNpgsql())
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock({LockClass}, {LockKey(job.Name)})", cancellationToken);
        var result = await work(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>The job's advisory lock key: FNV-1a of its name, the same in every process (string.GetHashCode is not).</summary>
    internal static int LockKey(string jobName)
    {
        var hash = 2166136261u;
        foreach (var c in jobName)
            hash = (hash ^ c) * 16777619u;
        return unchecked((int)hash);
    }

    [LoggerMessage(LogLevel.Warning, "Trigger of {Job} did not match its pause row and was {Change}")]
    private partial void LogReconciled(string job, string change);

    [LoggerMessage(LogLevel.Error, "Trigger of {Job} could not be matched to its pause row after a failed change: {Fault}; the next change or start-up matches it")]
    private partial void LogNotReconciled(string job, string fault);
}

/// <summary>
/// This process's line per job in front of the database's lock: a burst of pauses and resumes waits
/// here, rather than each holding a connection and a transaction open on PostgreSQL's lock, or
/// polling a busy SQLite file. The database's lock still orders the processes of a cluster.
/// </summary>
public sealed class SchedulePauseGate
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _lines = new();

    public async Task<IDisposable> EnterAsync(string job, CancellationToken cancellationToken)
    {
        var line = _lines.GetOrAdd(job, _ => new SemaphoreSlim(1, 1));
        await line.WaitAsync(cancellationToken);
        return new Exit(line);
    }

    private sealed class Exit(SemaphoreSlim line) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
                line.Release();
        }
    }
}
