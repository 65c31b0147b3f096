using DontGoBack.Batch.Http;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace DontGoBack.Batch.Operations;

/// <summary>
/// The run history of every job (GET /internal/batch/runs, /internal/batch/runs/{id} with a run's
/// failures paged) and its manual trigger (POST /internal/batch/{job}/runs?day=YYYY-MM-DD).
/// </summary>
public static class BatchRunsEndpoints
{
    public const int MaxPageSize = 500;

    /// <summary>Pages beyond this are refused, so an offset can never overflow (at most 500 million rows in).</summary>
    public const int MaxPage = 1_000_000;

    /// <summary>The trigger's day parameter before it was `day`: refused by name, so an old caller never silently runs today.</summary>
    public const string FormerDayParameter = "snapshotDay";

    /// <summary>
    /// Maps the runs' endpoints into <paramref name="runs"/>: a group the host gives, under its
    /// internal prefix and behind its guard (the engine knows neither).
    /// </summary>
    public static IEndpointRouteBuilder MapBatchRunEndpoints(this IEndpointRouteBuilder runs)
    {
        runs.MapGet("/runs", ListAsync)
            .WithSummary("List the runs")
            .WithDescription("Every job's runs, newest day first: each its `day` (YYYY-MM-DD), its day over all its attempts (`dayView`: written, failed now, "
                + "already done, not due, first start, last finish, time spent working, the job's own `counters` summed), its latest attempt's counts "
                + "and own `counters` (a flat object of the job's counts, e.g. `rebasedUsers`) and, while running, its live progress. "
                + "`job` narrows to one job (an unknown name is 400 and lists the known ones; an empty one is no filter); `from` and `to` (YYYY-MM-DD, inclusive) "
                + "bound the day and are open-ended when left out, so runs of future days are listed too.");
        runs.MapGet("/runs/{id:long}", GetAsync)
            .WithSummary("Read one run with its failures")
            .WithDescription($"A run with its live progress, each attempt's counts, the day's totals and its failed users a page at a time: "
                + $"`page` is 1 to {MaxPage} (default 1), `pageSize` 1 to {MaxPageSize} (default 100); outside those, 400. "
                + "An unknown run id is 404.");
        runs.MapPost("/{job}/runs", TriggerAsync)
            .WithSummary("Run a job's day now")
            .WithDescription("Runs one day of the job and answers its result when it ends; the request giving up does not stop it. "
                + "`day` (YYYY-MM-DD, default today in the batch zone) may not be in the future or before the earliest supported day; "
                + $"the former `{FormerDayParameter}` is refused with a 400 that names `day`, rather than ignored; "
                + "`reason` is optional and kept in the audit trail, as is every trigger, a refused one too. An unknown job is 404; "
                + "a bad day or reason 400; a day already running, a run cancelled, or a day the job refuses before it runs (the detail says why; no run is recorded), 409; a run a dependency stopped 503 "
                + "(the problem carries the result). Every problem names its `auditId`.");
        return runs;
    }

    private static async Task<Results<Ok<List<RunView>>, Problem<ProblemStatus.BadRequest>>> ListAsync(
        string? job, string? from, string? to, BatchRunLedger ledger, RunProgressReader progress, BatchJobs jobs, BatchCalendar calendar,
        CancellationToken cancellationToken)
    {
        // An empty `job=` is no filter, as in the audit trail.
        if (string.IsNullOrEmpty(job))
            job = null;
        if (job is not null && !jobs.TryFindRun(job, out _, out var unknown))
            return new Problem<ProblemStatus.BadRequest>("Unknown job", unknown);
        // Open-ended by default; a bound given is a real day within the supported range. Runs of
        // future days (load tests) are listed by leaving "to" out.
        var (first, last) = (DateOnly.MinValue, DateOnly.MaxValue);
        if ((!string.IsNullOrEmpty(from) && !calendar.TryParseDay(from, "from", out first, out var problem, latest: DateOnly.MaxValue))
            || (!string.IsNullOrEmpty(to) && !calendar.TryParseDay(to, "to", out last, out problem, latest: DateOnly.MaxValue)))
            return new Problem<ProblemStatus.BadRequest>("Invalid range", problem);
        var found = new List<BatchRun>();
        // The run table queried by the names runs are recorded under: the job's own and its subset's.
        foreach (var name in job is null ? jobs.RunNames : [job])
            found.AddRange(await ledger.ListAsync(name, first, last, cancellationToken));
        return TypedResults.Ok(await ViewsAsync(found.OrderByDescending(r => r.Day).ThenBy(r => r.JobName).ToList(), ledger, progress, cancellationToken));
    }

    /// <summary>The runs as the list and `runs` show them: each with its day over all attempts and, while running, its live progress.</summary>
    public static async Task<List<RunView>> ViewsAsync(
        IReadOnlyList<BatchRun> runs, BatchRunLedger ledger, RunProgressReader progress, CancellationToken cancellationToken)
    {
        var days = await ledger.DaysAsync(runs, cancellationToken);
        var views = new List<RunView>(runs.Count);
        // Only running runs have live progress to read: a handful at most.
        foreach (var run in runs)
            views.Add(RunView.Of(run, days[run.Id]) with { Progress = await progress.LiveAsync(run, cancellationToken) });
        return views;
    }

    private static async Task<Results<Ok<RunDetail>, Problem<ProblemStatus.BadRequest>, Problem<ProblemStatus.NotFound>>> GetAsync(
        long id, int? page, int? pageSize, BatchRunLedger ledger, RunProgressReader progress, BatchJobs jobs, HttpContext http,
        CancellationToken cancellationToken)
    {
        if (page is < 1 or > MaxPage || pageSize is < 1 or > MaxPageSize)
            return new Problem<ProblemStatus.BadRequest>("Invalid page", $"page is 1 to {MaxPage}; pageSize is 1 to {MaxPageSize}.");
        if (await ledger.FindAsync(id, cancellationToken) is not { } run)
            return new Problem<ProblemStatus.NotFound>("No such run", $"There is no run {id}.");
        // A back-fill's subset run finds its job's failures as the job's own run does.
        var failures = jobs.FailuresOf(run, http.RequestServices) is { } source
            ? await source.PageAsync(run.Day, page ?? 1, pageSize ?? 100, cancellationToken)
            : null;
        var (attempts, day) = await progress.AttemptsAsync(run, cancellationToken);
        return TypedResults.Ok(new RunDetail(RunView.Of(run, day), failures, await progress.LiveAsync(run, cancellationToken), attempts, day));
    }

    /// <summary>Runs one day of a job on demand and answers its result; the day defaults to today in the batch zone. Audited.</summary>
    private static async Task<Results<Ok<BatchResult>, Problem<ProblemStatus.BadRequest>, Problem<ProblemStatus.NotFound>,
        Problem<ProblemStatus.Conflict>, Problem<ProblemStatus.ServiceUnavailable>>> TriggerAsync(
        string job, [FromQuery(Name = "day")] string? dayText, string? reason, OperatorActions actions, BatchJobs jobs, BatchCalendar calendar,
        HttpContext http)
    {
        // Every trigger leaves its audit row, an invalid one too.
        var who = Operator.Of(http);
        if (!jobs.TryFind(job, out var registered, out var unknown))
        {
            var missing = await actions.RejectAsync(OperatorActionKind.Trigger, null, null, null, reason, who, unknown, CancellationToken.None,
                noSuchTarget: true);
            return OperatorEndpoints.Audited<ProblemStatus.NotFound>("No such job", missing);
        }
        if (http.Request.Query.ContainsKey(FormerDayParameter))
        {
            // Ignoring it would run today, not the day the caller meant.
            var former = await actions.RejectAsync(OperatorActionKind.Trigger, registered.Definition.Name, null, null, reason, who,
                $"the parameter `{FormerDayParameter}` is now `day` (YYYY-MM-DD): send ?day=… instead", CancellationToken.None);
            return OperatorEndpoints.Audited<ProblemStatus.BadRequest>("Invalid parameter", former);
        }
        var day = calendar.Today;
        if (!string.IsNullOrEmpty(dayText) && !calendar.TryParseDay(dayText, "day", out day, out var problem))
        {
            var invalid = await actions.RejectAsync(OperatorActionKind.Trigger, registered.Definition.Name, null, null, reason, who, problem, CancellationToken.None);
            return OperatorEndpoints.Audited<ProblemStatus.BadRequest>("Invalid day", invalid);
        }
        if (!OperatorActions.TryReadReason(reason, required: false, out var why, out problem))
        {
            var invalid = await actions.RejectAsync(OperatorActionKind.Trigger, registered.Definition.Name, null, day, why, who, problem!, CancellationToken.None);
            return OperatorEndpoints.Audited<ProblemStatus.BadRequest>("Invalid reason", invalid);
        }

        var what = $"The {registered.Definition.LowerTitle} for {day:yyyy-MM-dd}";
        ActionAnswer answer;
        try
        {
            // Not the request's token: a client or proxy giving up must not abort the day.
            // Shutdown still stops the run (the engine watches it).
            answer = await actions.RunDayAsync(registered, day, OperatorActionKind.Trigger, why, who, CancellationToken.None);
        }
        catch (OperationCanceledException)
        {
            return new Problem<ProblemStatus.ServiceUnavailable>("Run stopped",
                $"{what} stopped before it was through (shutdown or a lost lease); it is recorded as aborted and resumes on the next start or trigger.");
        }
        // A day the job will never accept is the caller's mistake, not an outage: nothing was run or recorded.
        if (answer.NotRunnable)
            return OperatorEndpoints.Audited<ProblemStatus.Conflict>("Day not runnable", answer);
        // Each problem names the request's audit row, as the other actions' problems do.
        var result = answer.Result;
        if (result is null)
        {
            return OperatorEndpoints.Audited<ProblemStatus.Conflict>("Already running", answer with { Detail = $"{what} is already running." });
        }
        if (result.Status == BatchRunStatus.Aborted)
        {
            return new Problem<ProblemStatus.Conflict>("Run cancelled",
                $"{what} was cancelled: {result.Error}. It is recorded as aborted and resumes on the next trigger.",
                new Dictionary<string, object?> { ["result"] = result, ["auditId"] = answer.AuditId });
        }
        if (result.Status == BatchRunStatus.Failed)
        {
            // A dependency (extension, auth server or database) stopped the run: the result rides along for the counts.
            return new Problem<ProblemStatus.ServiceUnavailable>("Run failed",
                $"{what} failed: {result.Error}", new Dictionary<string, object?> { ["result"] = result, ["auditId"] = answer.AuditId });
        }
        return TypedResults.Ok(result);
    }

    /// <summary>A run as listed: its day over all its attempts, and the latest attempt's own status, times and counts beside it.</summary>
    /// <param name="StartedAt">When the latest attempt started (the day's first start is <see cref="DayView"/>'s).</param>
    /// <param name="Total">This and the counts after it are the latest attempt's; <see cref="DayView"/> is what the day did.</param>
    /// <param name="Counters">The latest attempt's own counts of the job (<see cref="BatchCounters"/>); <see cref="DayView"/> sums the day's.</param>
    /// <param name="DayView">The day over all its attempts: what every surface shows for it.</param>
    public sealed record RunView(
        long Id, string Job, DateOnly Day, BatchRunStatus Status, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt,
        DateTimeOffset HeartbeatAt, IReadOnlyList<string> Nodes, int Attempts, int Total, int Success, int Skipped, int Failed, string? Error,
        BatchCounters Counters, RunDayView DayView)
    {
        /// <summary>A running run's live progress (its counts above are the previous attempt's until it finishes).</summary>
        [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
        public RunProgressView? Progress { get; init; }

        public static RunView Of(BatchRun run, RunDayView day) => new(
            run.Id, run.JobName, run.Day, run.Status, run.StartedAt, run.FinishedAt, run.HeartbeatAt,
            run.Nodes.Split(',', StringSplitOptions.RemoveEmptyEntries), run.Attempts, run.Total, run.Success, run.Skipped, run.Failed, run.Error,
            BatchCounters.FromJson(run.Counters), day);
    }

    /// <param name="Progress">While the run is running: its current attempt's progress.</param>
    /// <param name="Attempts">Every attempt's own counts (the run's are the latest's); <paramref name="DayView"/> adds them up.</param>
    public sealed record RunDetail(
        RunView Run, BatchRunFailurePage? Failures, RunProgressView? Progress, IReadOnlyList<RunAttemptView> Attempts, RunDayView DayView);
}
