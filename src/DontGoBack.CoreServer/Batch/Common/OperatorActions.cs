using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>What came of an operator's action, as audited.</summary>
public sealed record ActionAnswer(OperatorActionOutcome Outcome, string Detail, long AuditId, BatchResult? Result = null);

/// <summary>
/// The actions an operator takes on the batches — run a day, retry its failed users, cancel a
/// running run, pause and resume a schedule — each recorded in the audit trail with who, from where,
/// why and what came of it, whether it came through the HTTP API or the console.
/// </summary>
public sealed partial class OperatorActions(
    DontGoBackDbContext db, BatchRunLedger ledger, BatchJobs jobs, IEnumerable<IBatchJobRunner> runners, ISchedulerFactory schedulers,
    OperatorRuns background, TimeProvider time, ILogger<OperatorActions> logger)
{
    public const int MaxReasonLength = 500;

    /// <summary>The reason as stored, or why it cannot be taken (missing, blank, too long).</summary>
    public static bool TryReadReason(string? given, bool required, out string? reason, out string? problem)
    {
        // Cleaned to one character past the limit: anything longer is refused, not cut.
        reason = StoredText.Clean(given?.Trim(), MaxReasonLength + 1)?.Trim();
        problem = null;
        if (string.IsNullOrEmpty(reason))
        {
            reason = null;
            if (required)
                problem = "A reason is required: say why, for the audit trail.";
            return !required;
        }
        if (reason.Length > MaxReasonLength)
        {
            problem = $"The reason is {given!.Trim().Length} characters; at most {MaxReasonLength}.";
            return false;
        }
        return true;
    }

    /// <summary>Runs a day of a job here and now, answering when it is through (the HTTP trigger).</summary>
    public async Task<ActionAnswer> RunDayAsync(
        IBatchJobRunner runner, DateOnly day, OperatorActionKind kind, string? reason, Operator who, CancellationToken cancellationToken)
    {
        var audit = await RecordAsync(kind, runner.Definition.Name, null, day, who, reason, OperatorActionOutcome.Accepted, "started", cancellationToken);
        BatchResult? result;
        try
        {
            result = await runner.TryRunAsync(day, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await CompleteAsync(audit, OperatorActionOutcome.Failed, "stopped before it was through (shutdown or a lost lease); recorded aborted");
            throw;
        }
        var answer = Judge(result, runner.Definition, day);
        await CompleteAsync(audit, answer.Outcome, answer.Detail, result?.RunId);
        return answer with { AuditId = audit, Result = result };
    }

    /// <summary>Starts a day of a job in the background and answers at once (the console, whose pages must not wait for a run).</summary>
    public async Task<ActionAnswer> StartDayAsync(
        IBatchJobRunner runner, DateOnly day, OperatorActionKind kind, string? reason, Operator who, CancellationToken cancellationToken)
    {
        if (await ledger.FindAsync(runner.Definition.Name, day, cancellationToken) is { Status: BatchRunStatus.Running } running)
        {
            var refused = $"run {running.Id} of {day:yyyy-MM-dd} is already running";
            return new ActionAnswer(OperatorActionOutcome.Refused, refused,
                await RecordAsync(kind, runner.Definition.Name, running.Id, day, who, reason, OperatorActionOutcome.Refused, refused, cancellationToken));
        }
        var audit = await RecordAsync(kind, runner.Definition.Name, null, day, who, reason, OperatorActionOutcome.Accepted, "started", cancellationToken);
        background.Start(runner.Definition.Name, day, audit);
        return new ActionAnswer(OperatorActionOutcome.Accepted, "started", audit);
    }

    /// <summary>What a finished run means for the action that asked for it.</summary>
    internal static ActionAnswer Judge(BatchResult? result, DailyJobDefinition job, DateOnly day) => result switch
    {
        null => new(OperatorActionOutcome.Refused, $"{job.Title} for {day:yyyy-MM-dd} is already running", 0),
        { Status: BatchRunStatus.Failed } => new(OperatorActionOutcome.Failed, $"run {result.RunId} failed: {result.Error}", 0, result),
        _ => new(OperatorActionOutcome.Accepted,
            $"run {result.RunId} {result.Status.ToText()}: total {result.Total}, success {result.Success}, skipped {result.Skipped}, failed {result.Failed}"
            + (result.Error is { } error ? $" ({error})" : ""), 0, result),
    };

    /// <summary>Asks a running run to stop wherever it works; it ends aborted and the next trigger resumes it.</summary>
    public async Task<ActionAnswer?> CancelAsync(long runId, string reason, Operator who, CancellationToken cancellationToken)
    {
        if (await ledger.FindAsync(runId, cancellationToken) is not { } run)
            return null;
        var (outcome, detail) = await ledger.RequestCancelAsync(runId, reason, cancellationToken)
            ? (OperatorActionOutcome.Accepted, "cancel requested; every node working on it stops at its next lease renewal")
            : (OperatorActionOutcome.Refused, run.Status == BatchRunStatus.Running ? "a cancel was requested already" : $"the run is {run.Status.ToText()}, not running");
        var audit = await RecordAsync(OperatorActionKind.Cancel, run.JobName, run.Id, run.SnapshotDay, who, reason, outcome, detail, cancellationToken);
        return new ActionAnswer(outcome, detail, audit);
    }

    /// <summary>Pauses a job's cron trigger, cluster-wide and across restarts, until resumed; catch-up and chaining stop too.</summary>
    public async Task<ActionAnswer> PauseAsync(DailyJobDefinition job, string reason, Operator who, CancellationToken cancellationToken)
    {
        var pause = new SchedulePause
        {
            JobName = job.Name, PausedAt = time.GetUtcNow(), Reason = reason, Address = who.Address, TokenName = StoredText.Clean(who.TokenName, 100),
        };
        // Insert-if-absent on both providers: two operators pausing at once get one pause and one refusal.
        var written = await db.Database.ExecuteSqlAsync($"""
            INSERT INTO batch_schedule_pauses (job_name, paused_at, reason, address, token_name)
            VALUES ({pause.JobName}, {pause.PausedAt}, {pause.Reason}, {pause.Address}, {pause.TokenName})
            ON CONFLICT (job_name) DO NOTHING
            """, cancellationToken);
        if (written == 0)
        {
            return new ActionAnswer(OperatorActionOutcome.Refused, "already paused",
                await RecordAsync(OperatorActionKind.Pause, job.Name, null, null, who, reason, OperatorActionOutcome.Refused, "already paused", cancellationToken));
        }
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        await scheduler.PauseTrigger(job.CronKey, cancellationToken);
        LogPaused(job.Name, reason, who.Address, who.TokenName);
        return new ActionAnswer(OperatorActionOutcome.Accepted, "paused",
            await RecordAsync(OperatorActionKind.Pause, job.Name, null, null, who, reason, OperatorActionOutcome.Accepted, "paused", cancellationToken));
    }

    /// <summary>Resumes a paused job's cron trigger; a fire missed while paused happens at once and runs what is owed.</summary>
    public async Task<ActionAnswer> ResumeAsync(DailyJobDefinition job, string reason, Operator who, CancellationToken cancellationToken)
    {
        var removed = await db.SchedulePauses.Where(p => p.JobName == job.Name).ExecuteDeleteAsync(cancellationToken);
        if (removed == 0)
        {
            return new ActionAnswer(OperatorActionOutcome.Refused, "not paused",
                await RecordAsync(OperatorActionKind.Resume, job.Name, null, null, who, reason, OperatorActionOutcome.Refused, "not paused", cancellationToken));
        }
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        await scheduler.ResumeTrigger(job.CronKey, cancellationToken);
        LogResumed(job.Name, reason, who.Address, who.TokenName);
        return new ActionAnswer(OperatorActionOutcome.Accepted, "resumed",
            await RecordAsync(OperatorActionKind.Resume, job.Name, null, null, who, reason, OperatorActionOutcome.Accepted, "resumed", cancellationToken));
    }

    /// <summary>The job of that name, for the actions' endpoints.</summary>
    public DailyJobDefinition? FindJob(string name) => jobs.All.Select(j => j.Definition).FirstOrDefault(d => d.Name == name);

    public IBatchJobRunner? FindRunner(string name) => runners.FirstOrDefault(r => r.Definition.Name == name);

    private async Task<long> RecordAsync(
        OperatorActionKind action, string? job, long? runId, DateOnly? day, Operator who, string? reason, OperatorActionOutcome outcome, string detail,
        CancellationToken cancellationToken)
    {
        var row = new OperatorAction
        {
            At = time.GetUtcNow(), Action = action, JobName = job, RunId = runId, SnapshotDay = day, Address = StoredText.Clean(who.Address, 64),
            TokenName = StoredText.Clean(who.TokenName, 100), Reason = reason, Outcome = outcome, Detail = StoredText.Clean(detail, BatchRunLedger.MaxTextLength),
        };
        db.OperatorActions.Add(row);
        try
        {
            // Not the caller's token: an action that happened is audited even if the caller has gone.
            await db.SaveChangesAsync(CancellationToken.None);
            return row.Id;
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            // The action goes on (a run says for itself that the database is away); the log keeps what the trail could not.
            LogNotAudited(action.ToString(), job, runId, day, who.Address, who.TokenName, reason, outcome.ToString(), detail, DatabaseFaults.Describe(e));
            return 0;
        }
        finally
        {
            db.Entry(row).State = EntityState.Detached;
        }
    }

    /// <summary>Writes what came of an audited action once it is known, with the run it made.</summary>
    internal static async Task CompleteAsync(DontGoBackDbContext db, long audit, OperatorActionOutcome outcome, string detail, long? runId)
    {
        var stored = StoredText.Clean(detail, BatchRunLedger.MaxTextLength);
        await db.OperatorActions.Where(a => a.Id == audit)
            .ExecuteUpdateAsync(set => set.SetProperty(a => a.Outcome, outcome).SetProperty(a => a.Detail, stored)
                .SetProperty(a => a.RunId, a => runId ?? a.RunId), CancellationToken.None);
    }

    private async Task CompleteAsync(long audit, OperatorActionOutcome outcome, string detail, long? runId = null)
    {
        try
        {
            await CompleteAsync(db, audit, outcome, detail, runId);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            LogOutcomeNotAudited(audit, outcome.ToString(), detail, DatabaseFaults.Describe(e));
        }
    }

    [LoggerMessage(LogLevel.Warning,
        "Could not audit {Action} of {Job} (run {RunId}, day {Day}) by {TokenName} from {Address}, reason {Reason}: {Outcome}, {Detail}. {Fault}")]
    private partial void LogNotAudited(
        string action, string? job, long? runId, DateOnly? day, string address, string tokenName, string? reason, string outcome, string detail, string fault);

    [LoggerMessage(LogLevel.Warning, "Could not write the outcome of audited action {AuditId}: {Outcome}, {Detail}. {Fault}")]
    private partial void LogOutcomeNotAudited(long auditId, string outcome, string detail, string fault);

    [LoggerMessage(LogLevel.Warning, "Schedule of {Job} paused by {TokenName} from {Address}: {Reason}")]
    private partial void LogPaused(string job, string reason, string address, string tokenName);

    [LoggerMessage(LogLevel.Warning, "Schedule of {Job} resumed by {TokenName} from {Address}: {Reason}")]
    private partial void LogResumed(string job, string reason, string address, string tokenName);
}

/// <summary>
/// Runs days the console started, off the request: each in its own scope, stopped by shutdown (it
/// then ends aborted and resumes on the next start), its result written onto the action's audit row.
/// </summary>
public sealed partial class OperatorRuns(IServiceScopeFactory scopes, IHostApplicationLifetime lifetime, ILogger<OperatorRuns> logger)
{
    /// <summary>Starts the run off the request; its outcome lands on the audit row and the run's own record.</summary>
    public void Start(string job, DateOnly day, long audit) => _ = Task.Run(() => RunAsync(job, day, audit));

    private async Task RunAsync(string job, DateOnly day, long audit)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var runner = scope.ServiceProvider.GetServices<IBatchJobRunner>().Single(r => r.Definition.Name == job);
            var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
            string detail;
            OperatorActionOutcome outcome;
            long? runId = null;
            try
            {
                var result = await runner.TryRunAsync(day, lifetime.ApplicationStopping);
                var answer = OperatorActions.Judge(result, runner.Definition, day);
                (outcome, detail, runId) = (answer.Outcome, answer.Detail, result?.RunId);
            }
            catch (OperationCanceledException)
            {
                (outcome, detail) = (OperatorActionOutcome.Failed, "stopped by shutdown before it was through; recorded aborted, resumes on the next start");
            }
            await OperatorActions.CompleteAsync(db, audit, outcome, detail, runId);
        }
        catch (Exception e)
        {
            // Off the request there is nobody to answer: the run's own record says what happened.
            LogFailed(e, job, day);
        }
    }

    [LoggerMessage(LogLevel.Error, "A {Job} run for {Day} started by an operator failed")]
    private partial void LogFailed(Exception exception, string job, DateOnly day);
}
