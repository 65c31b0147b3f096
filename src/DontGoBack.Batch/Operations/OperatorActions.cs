using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.Batch.Operations;

/// <summary>What came of an operator's action, as audited.</summary>
/// <param name="NoSuchTarget">The job or run named does not exist (answered 404); the outcome is then <see cref="OperatorActionOutcome.Invalid"/>.</param>
/// <param name="NotRunnable">The job refused the day before it ran (<see cref="IDailyJob.WhyNotRunnableAsync"/>): <see cref="Detail"/> is its reason, and no run was recorded.</param>
public sealed record ActionAnswer(
    OperatorActionOutcome Outcome, string Detail, long AuditId, BatchResult? Result = null, bool NoSuchTarget = false, bool NotRunnable = false);

/// <summary>
/// The actions an operator takes on the batches — run a day, retry its failed users, cancel a
/// running run, pause and resume a schedule — each recorded in the audit trail with who, from where,
/// why and what came of it, whether it came through the HTTP API or the console: every request that
/// reaches an action leaves exactly one row, refusals and invalid requests included, and a row whose
/// fate is decided later (a run, a cancel) is updated when it is.
/// </summary>
public sealed partial class OperatorActions(
    BatchEngineDbContext db, BatchRunLedger ledger, SchedulePauses pauses, OperatorRuns background, IServiceProvider scope, TimeProvider time,
    ILogger<OperatorActions> logger)
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
    /// <param name="job">The job as <see cref="BatchJobs"/> found it.</param>
    public async Task<ActionAnswer> RunDayAsync(
        DailyJobSchedule job, DateOnly day, OperatorActionKind kind, string? reason, Operator who, CancellationToken cancellationToken)
    {
        var runner = job.RunnerIn(scope);
        if (await RefuseUnrunnableAsync(runner, day, kind, reason, who, cancellationToken) is { } refused)
            return refused;
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
    /// <param name="job">The job as <see cref="BatchJobs"/> found it.</param>
    public async Task<ActionAnswer> StartDayAsync(
        DailyJobSchedule job, DateOnly day, OperatorActionKind kind, string? reason, Operator who, CancellationToken cancellationToken)
    {
        var runner = job.RunnerIn(scope);
        if (await ledger.FindAsync(runner.Definition.Name, day, cancellationToken) is { Status: BatchRunStatus.Running } running)
        {
            var refused = $"run {running.Id} of {day:yyyy-MM-dd} is already running";
            return new ActionAnswer(OperatorActionOutcome.Refused, refused,
                await RecordAsync(kind, runner.Definition.Name, running.Id, day, who, reason, OperatorActionOutcome.Refused, refused, cancellationToken));
        }
        if (kind == OperatorActionKind.Retry && await ledger.FindAsync(runner.Definition.Name, day, cancellationToken) is { } recorded
            && !await runner.OwesAsync(recorded, cancellationToken))
        {
            // Nothing failed or unreached: a pass would only find every user done, and add an attempt that did nothing.
            var nothing = NothingToRetry(runner.Definition, recorded);
            return new ActionAnswer(OperatorActionOutcome.Refused, nothing,
                await RecordAsync(kind, runner.Definition.Name, recorded.Id, day, who, reason, OperatorActionOutcome.Refused, nothing, cancellationToken));
        }
        if (await RefuseUnrunnableAsync(runner, day, kind, reason, who, cancellationToken) is { } notRunnable)
            return notRunnable;
        var audit = await RecordAsync(kind, runner.Definition.Name, null, day, who, reason, OperatorActionOutcome.Accepted, "started", cancellationToken);
        background.Start(job, day, audit);
        return new ActionAnswer(OperatorActionOutcome.Accepted, "started", audit);
    }

    /// <summary>A day the job will never accept is refused before anything is claimed or recorded, audited with the job's reason; null when it may run.</summary>
    private async Task<ActionAnswer?> RefuseUnrunnableAsync(
        IBatchJobRunner runner, DateOnly day, OperatorActionKind kind, string? reason, Operator who, CancellationToken cancellationToken)
    {
        if (await runner.WhyNotRunnableAsync(day, cancellationToken) is not { } why)
            return null;
        return new ActionAnswer(OperatorActionOutcome.Refused, why,
            await RecordAsync(kind, runner.Definition.Name, null, day, who, reason, OperatorActionOutcome.Refused, why, cancellationToken), NotRunnable: true);
    }

    /// <summary>Why a retry of a recorded day is not run: "nothing to retry: run 7 of 2026-12-05 is completed, with no failed or unreached users".</summary>
    public static string NothingToRetry(DailyJobDefinition job, BatchRun run) =>
        $"nothing to retry: {job.LowerTitle} run {run.Id} of {run.Day:yyyy-MM-dd} is {run.Status.ToText()}, with no failed or unreached {job.Counted}";

    /// <summary>What a finished run means for the action that asked for it.</summary>
    internal static ActionAnswer Judge(BatchResult? result, DailyJobDefinition job, DateOnly day) => result switch
    {
        null => new(OperatorActionOutcome.Refused, $"{job.Title} for {day:yyyy-MM-dd} is already running", 0),
        { Status: BatchRunStatus.Failed } => new(OperatorActionOutcome.Failed, $"run {result.RunId} failed: {result.Error}", 0, result),
        _ => new(OperatorActionOutcome.Accepted,
            $"run {result.RunId} {result.Status.ToText()}: total {result.Total}, success {result.Success}, skipped {result.Skipped}, failed {result.Failed}"
            + (result.Error is { } error ? $" ({error})" : ""), 0, result),
    };

    /// <summary>
    /// Asks a running run to stop wherever it works; it ends aborted and the next trigger resumes it.
    /// Audited as accepted, and settled when the run ends (<see cref="SettleCancelsAsync"/>): applied if
    /// the cancel stopped it, too late if it ended another way first.
    /// </summary>
    public async Task<ActionAnswer> CancelAsync(long runId, string reason, Operator who, CancellationToken cancellationToken)
    {
        if (await ledger.FindAsync(runId, cancellationToken) is not { } run)
            return await RejectAsync(OperatorActionKind.Cancel, null, runId, null, reason, who, $"there is no run {runId}", cancellationToken, noSuchTarget: true);
        // The request and its audit row are one transaction (the ledger's, on its own context).
        return await ledger.RequestCancelAsync(runId, reason, async (books, requested, token) =>
        {
            var (outcome, detail) = requested
                ? (OperatorActionOutcome.Accepted, "cancel requested; every node working on it stops at its next lease renewal")
                : await RefusalAsync(books, token);
            var row = NewRow(OperatorActionKind.Cancel, run.JobName, run.Id, run.Day, who, reason, outcome, detail);
            books.OperatorActions.Add(row);
            await books.SaveChangesAsync(token);
            return new ActionAnswer(outcome, detail, row.Id);
        }, cancellationToken);

        async Task<(OperatorActionOutcome, string)> RefusalAsync(BatchEngineDbContext books, CancellationToken token)
        {
            // Read again: the run may have ended since it was found.
            var status = await books.BatchRuns.AsNoTracking().Where(r => r.Id == runId).Select(r => (BatchRunStatus?)r.Status).FirstOrDefaultAsync(token) ?? run.Status;
            return (OperatorActionOutcome.Refused,
                status == BatchRunStatus.Running ? "a cancel was requested already" : $"the run is {status.ToText()}, not running");
        }
    }

    /// <summary>
    /// Writes the fate of the cancels still pending on a run that has just ended: applied when the run
    /// ended aborted by a cancel, too late when it ended any other way before it saw one. Called by
    /// <see cref="BatchRunLedger.FinishAsync"/> in the transaction that records the run's end.
    /// </summary>
    internal static async Task SettleCancelsAsync(BatchEngineDbContext db, long runId, BatchResult result, CancellationToken cancellationToken)
    {
        var applied = result.Status == BatchRunStatus.Aborted && result.Error is { } error
            && error.StartsWith(BatchRunLedger.CancelledBecause(""), StringComparison.Ordinal);
        var counts = $"total {result.Total}, success {result.Success}, skipped {result.Skipped}, failed {result.Failed}";
        var (outcome, detail) = applied
            ? (OperatorActionOutcome.Applied, $"applied: run {runId} stopped aborted ({counts}); the next trigger resumes it")
            : (OperatorActionOutcome.TooLate, $"too late: run {runId} ended {result.Status.ToText()} before it saw the cancel ({counts})");
        var stored = StoredText.Clean(detail, BatchRunLedger.MaxTextLength);
        await db.OperatorActions
            .Where(a => a.RunId == runId && a.Action == OperatorActionKind.Cancel && a.Outcome == OperatorActionOutcome.Accepted)
            .ExecuteUpdateAsync(set => set.SetProperty(a => a.Outcome, outcome).SetProperty(a => a.Detail, stored), cancellationToken);
    }

    /// <summary>Pauses a job's cron trigger, cluster-wide and across restarts, until resumed; catch-up and chaining stop too.</summary>
    public async Task<ActionAnswer> PauseAsync(DailyJobDefinition job, string reason, Operator who, CancellationToken cancellationToken)
    {
        var pause = new SchedulePause
        {
            JobName = job.Name, PausedAt = time.GetUtcNow(), Reason = reason, Address = who.Address, TokenName = StoredText.Clean(who.TokenName, 100),
        };
        var answer = await pauses.SetAsync(job, pause,
            (changed, token) => AuditInLockAsync(OperatorActionKind.Pause, job.Name, who, reason, changed, token), cancellationToken);
        if (answer.Outcome == OperatorActionOutcome.Accepted)
            LogPaused(job.Name, reason, who.Address, who.TokenName);
        return answer;
    }

    /// <summary>Resumes a paused job's cron trigger; a fire missed while paused happens at once and runs what is owed.</summary>
    public async Task<ActionAnswer> ResumeAsync(DailyJobDefinition job, string reason, Operator who, CancellationToken cancellationToken)
    {
        var answer = await pauses.SetAsync(job, null,
            (changed, token) => AuditInLockAsync(OperatorActionKind.Resume, job.Name, who, reason, changed, token), cancellationToken);
        if (answer.Outcome == OperatorActionOutcome.Accepted)
            LogResumed(job.Name, reason, who.Address, who.TokenName);
        return answer;
    }

    /// <summary>
    /// A pause's or resume's audit row, written in the pause's own transaction (<see cref="SchedulePauses.SetAsync{T}"/>):
    /// the change and its row commit together, in the order the lock let them in.
    /// </summary>
    /// <param name="changed">Whether the pause row changed: the request was taken, or refused as already so.</param>
    private async Task<ActionAnswer> AuditInLockAsync(
        OperatorActionKind action, string job, Operator who, string reason, bool changed, CancellationToken cancellationToken)
    {
        var pausing = action == OperatorActionKind.Pause;
        var (outcome, detail) = changed
            ? (OperatorActionOutcome.Accepted, pausing ? "paused" : "resumed")
            : (OperatorActionOutcome.Refused, pausing ? "already paused" : "not paused");
        var row = NewRow(action, job, null, null, who, reason, outcome, detail);
        db.OperatorActions.Add(row);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return new ActionAnswer(outcome, detail, row.Id);
        }
        finally
        {
            db.Entry(row).State = EntityState.Detached;
        }
    }

    /// <summary>
    /// Audits a request that cannot be acted on as asked (no reason, a bad day, no such job or run) and
    /// answers it: the HTTP API and the console call this on every such request, so each leaves its row.
    /// </summary>
    /// <param name="job">The job's name when it is a known job; an unknown name goes into <paramref name="problem"/>.</param>
    public async Task<ActionAnswer> RejectAsync(
        OperatorActionKind kind, string? job, long? runId, DateOnly? day, string? reason, Operator who, string problem, CancellationToken cancellationToken,
        bool noSuchTarget = false)
    {
        // A reason that was itself the problem (too long) is not stored; the problem says what it was.
        var stored = TryReadReason(reason, required: false, out var cleaned, out _) ? cleaned : null;
        return new ActionAnswer(OperatorActionOutcome.Invalid, problem,
            await RecordAsync(kind, job, runId, day, who, stored, OperatorActionOutcome.Invalid, problem, cancellationToken), NoSuchTarget: noSuchTarget);
    }

    private async Task<long> RecordAsync(
        OperatorActionKind action, string? job, long? runId, DateOnly? day, Operator who, string? reason, OperatorActionOutcome outcome, string detail,
        CancellationToken cancellationToken)
    {
        var row = NewRow(action, job, runId, day, who, reason, outcome, detail);
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

    private OperatorAction NewRow(
        OperatorActionKind action, string? job, long? runId, DateOnly? day, Operator who, string? reason, OperatorActionOutcome outcome, string detail) => new()
    {
        At = time.GetUtcNow(), Action = action, JobName = StoredText.Clean(job, 50), RunId = runId, Day = day, Address = StoredText.Clean(who.Address, 64),
        TokenName = StoredText.Clean(who.TokenName, 100), Reason = reason, Outcome = outcome, Detail = StoredText.Clean(detail, BatchRunLedger.MaxTextLength),
    };

    /// <summary>Writes what came of an audited action once it is known, with the run it made.</summary>
    internal static async Task CompleteAsync(BatchEngineDbContext db, long audit, OperatorActionOutcome outcome, string detail, long? runId)
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
    public void Start(DailyJobSchedule job, DateOnly day, long audit) => _ = Task.Run(() => RunAsync(job, day, audit));

    private async Task RunAsync(DailyJobSchedule job, DateOnly day, long audit)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var runner = job.RunnerIn(scope.ServiceProvider);
            var db = scope.ServiceProvider.GetRequiredService<BatchEngineDbContext>();
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
            LogFailed(e, job.Definition.Name, day);
        }
    }

    [LoggerMessage(LogLevel.Error, "A {Job} run for {Day} started by an operator failed")]
    private partial void LogFailed(Exception exception, string job, DateOnly day);
}
