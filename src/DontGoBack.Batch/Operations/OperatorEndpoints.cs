using DontGoBack.Batch.Http;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.Batch.Operations;

/// <summary>
/// The operators' actions over HTTP, each audited (<see cref="OperatorActions"/>): cancel a running
/// run, pause and resume a job's schedule, and the schedules and the audit trail to read.
/// </summary>
public static class OperatorEndpoints
{
    /// <summary>The body of an action that needs a reason.</summary>
    public sealed record ActionRequest(string? Reason);

    /// <summary>
    /// An action's body as its handler reads it: the reason, or what was wrong with the body. Read here
    /// rather than bound by the framework, which answers a body it cannot bind (broken JSON, another
    /// shape, another media type) with a 400 or 415 before the action runs, so the audit trail never
    /// heard of the request; this way it is an invalid request like a missing reason, with its row.
    /// (No Accepts metadata either: routing would answer another media type 415 before the action, too.)
    /// </summary>
    public sealed record ActionBody(string? Reason, string? Problem)
    {
        private const string Form = "{\"reason\": \"…\"}";

        public static async ValueTask<ActionBody> BindAsync(HttpContext http)
        {
            var request = http.Request;
            if (http.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false } || request.ContentLength == 0)
                return new ActionBody(null, null);
            if (!request.HasJsonContentType())
                return new ActionBody(null, $"The body must be JSON of the form {Form} (Content-Type: application/json).");
            try
            {
                return new ActionBody((await request.ReadFromJsonAsync<ActionRequest>(http.RequestAborted))?.Reason, null);
            }
            catch (JsonException unreadable)
            {
                // Where it went wrong, not the reader's message: that names this server's types.
                return new ActionBody(null,
                    $"The body must be JSON of the form {Form}; it could not be read at {unreadable.Path ?? "$"} (line {unreadable.LineNumber + 1}).");
            }
            catch (BadHttpRequestException cut)
            {
                // Too large, or cut off before its declared length.
                return new ActionBody(null, $"The body must be JSON of the form {Form}; it could not be read whole ({cut.StatusCode}).");
            }
        }
    }

    /// <summary>An action's answer: what came of it and its row in the audit trail.</summary>
    public sealed record ActionView(OperatorActionOutcome Outcome, string Detail, long AuditId);

    public sealed record ScheduleView(
        string Job, string Title, bool Enabled, string Cron, string TimeZone, string CompleteBy, double MinSuccessRatio, PauseView? Paused,
        IReadOnlyList<FireView> NextFires);

    public sealed record PauseView(DateTimeOffset At, string Reason, string Address, string TokenName);

    /// <summary>A coming fire time, in the batch zone and in UTC.</summary>
    public sealed record FireView(DateTimeOffset Local, DateTimeOffset Utc);

    public sealed record AuditPage(int Page, int PageSize, IReadOnlyList<OperatorAction> Actions);

    public static RouteGroupBuilder MapOperatorActions(this RouteGroupBuilder batch)
    {
        const string ReasonRule = "The body is JSON `{\"reason\": \"…\"}`: a reason is required, for the audit trail, "
            + "and a missing, over-long or unreadable one (or another media type) is 400. Every request, a refused one too, "
            + "leaves an audit row, whose `auditId` the answer and every problem carry.";
        batch.MapPost("/runs/{id:long}/cancel", CancelAsync)
            .WithSummary("Cancel a running run")
            .WithDescription("Asks a running run to stop (202); it is then recorded as aborted and resumes on the next trigger. "
                + " An unknown run id is 404; a run that is not running 409. " + ReasonRule);
        batch.MapPost("/{job}/schedule/pause", (string job, ActionBody body, OperatorActions actions, BatchJobs jobs, HttpContext http) =>
                ScheduleActionAsync(job, body, actions, jobs, http, pause: true))
            .WithSummary("Pause a job's schedule")
            .WithDescription("Stops the job's scheduled fires until it is resumed. "
                + "An unknown job is 404; a schedule already paused 409. " + ReasonRule);
        batch.MapPost("/{job}/schedule/resume", (string job, ActionBody body, OperatorActions actions, BatchJobs jobs, HttpContext http) =>
                ScheduleActionAsync(job, body, actions, jobs, http, pause: false))
            .WithSummary("Resume a job's schedule")
            .WithDescription("Lets a paused job's schedule fire again from its next fire time. "
                + "An unknown job is 404; a schedule that is not paused 409. " + ReasonRule);
        batch.MapGet("/schedules", SchedulesAsync)
            .WithSummary("List the jobs' schedules")
            .WithDescription("Each job's schedule: whether it is enabled, its cron and time zone, when its day must be complete, "
                + "the success ratio it needs, its pause (who, when, why) if paused, and its next five fire times in the batch zone and in UTC "
                + "(none while paused or disabled). No parameters.");
        batch.MapGet("/audit", AuditAsync)
            .WithSummary("Read the operators' audit trail")
            .WithDescription($"Every operator action (trigger, cancel, pause, resume, from the API or the console), newest first: who, from where, "
                + $"why and what came of it. `job` narrows to one job (an unknown name is 400 and lists the jobs; an empty one is no filter); `page` is 1 to {BatchRunsEndpoints.MaxPage} (default 1) and "
                + $"`pageSize` 1 to {BatchRunsEndpoints.MaxPageSize} (default 50); outside those, 400.");
        return batch;
    }

    private static async Task<Results<Accepted<ActionView>, Problem<ProblemStatus.BadRequest>, Problem<ProblemStatus.NotFound>,
        Problem<ProblemStatus.Conflict>>> CancelAsync(long id, ActionBody body, OperatorActions actions, HttpContext http)
    {
        var who = Operator.Of(http);
        var readable = OperatorActions.TryReadReason(body.Reason, required: true, out var reason, out var problem) && body.Problem is null;
        var answer = readable
            ? await actions.CancelAsync(id, reason!, who, CancellationToken.None)
            : await actions.RejectAsync(OperatorActionKind.Cancel, null, id, null, reason, who, body.Problem ?? problem!, CancellationToken.None);
        return answer switch
        {
            { Outcome: OperatorActionOutcome.Accepted } => TypedResults.Accepted((string?)null, View(answer)),
            { NoSuchTarget: true } => Audited<ProblemStatus.NotFound>("No such run", answer),
            { Outcome: OperatorActionOutcome.Invalid } => Audited<ProblemStatus.BadRequest>("Invalid reason", answer),
            _ => Audited<ProblemStatus.Conflict>("Run not cancelled", answer),
        };
    }

    private static async Task<Results<Ok<ActionView>, Problem<ProblemStatus.BadRequest>, Problem<ProblemStatus.NotFound>,
        Problem<ProblemStatus.Conflict>>> ScheduleActionAsync(string job, ActionBody body, OperatorActions actions, BatchJobs jobs, HttpContext http, bool pause)
    {
        var who = Operator.Of(http);
        var kind = pause ? OperatorActionKind.Pause : OperatorActionKind.Resume;
        var answer = !jobs.TryFind(job, out var registered, out var unknown)
            ? await actions.RejectAsync(kind, null, null, null, body.Reason, who, unknown, CancellationToken.None, noSuchTarget: true)
            : !OperatorActions.TryReadReason(body.Reason, required: true, out var reason, out var problem) || body.Problem is not null
                ? await actions.RejectAsync(kind, registered.Definition.Name, null, null, reason, who, body.Problem ?? problem!, CancellationToken.None)
                : pause
                    ? await actions.PauseAsync(registered.Definition, reason!, who, CancellationToken.None)
                    : await actions.ResumeAsync(registered.Definition, reason!, who, CancellationToken.None);
        return answer switch
        {
            { Outcome: OperatorActionOutcome.Accepted } => TypedResults.Ok(View(answer)),
            { NoSuchTarget: true } => Audited<ProblemStatus.NotFound>("No such job", answer),
            { Outcome: OperatorActionOutcome.Invalid } => Audited<ProblemStatus.BadRequest>("Invalid reason", answer),
            _ => Audited<ProblemStatus.Conflict>(pause ? "Not paused" : "Not resumed", answer),
        };
    }

    private static async Task<Ok<List<ScheduleView>>> SchedulesAsync(
        BatchJobs jobs, BatchCalendar calendar, BatchEngineDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var pauses = await db.SchedulePauses.AsNoTracking().ToDictionaryAsync(p => p.JobName, cancellationToken);
        var now = time.GetUtcNow();
        return TypedResults.Ok(jobs.All.Select(job => Describe(job, calendar, pauses.GetValueOrDefault(job.Definition.Name), now)).ToList());
    }

    /// <summary>A job's schedule as operators read it, with its next fire times (none while paused or off).</summary>
    public static ScheduleView Describe(DailyJobSchedule job, BatchCalendar calendar, SchedulePause? pause, DateTimeOffset now, int fires = 5)
    {
        var schedule = job.Describe(calendar);
        IReadOnlyList<FireView> next = schedule.Enabled && pause is null
            ? schedule.NextFires(now, fires).Select(fire => new FireView(fire, fire.ToUniversalTime())).ToList()
            : [];
        return new ScheduleView(schedule.Job, job.Definition.Title, schedule.Enabled, schedule.Cron, calendar.ZoneId, schedule.CompleteByText,
            schedule.MinSuccessRatio, pause is null ? null : new PauseView(pause.PausedAt, pause.Reason, pause.Address, pause.TokenName), next);
    }

    private static async Task<Results<Ok<AuditPage>, Problem<ProblemStatus.BadRequest>>> AuditAsync(
        string? job, int? page, int? pageSize, BatchJobs jobs, BatchEngineDbContext db, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(job) && !jobs.TryFind(job, out _, out var unknown))
            return new Problem<ProblemStatus.BadRequest>("Unknown job", unknown);
        if (page is < 1 or > BatchRunsEndpoints.MaxPage || pageSize is < 1 or > BatchRunsEndpoints.MaxPageSize)
        {
            return new Problem<ProblemStatus.BadRequest>("Invalid page",
                $"page is 1 to {BatchRunsEndpoints.MaxPage}; pageSize is 1 to {BatchRunsEndpoints.MaxPageSize}.");
        }
        var (number, size) = (page ?? 1, pageSize ?? 50);
        var actions = db.OperatorActions.AsNoTracking();
        // The audit table queried by the job's name, as its rows record it.
        if (!string.IsNullOrEmpty(job))
            actions = actions.Where(a => a.JobName == job);
        var rows = await actions.OrderByDescending(a => a.Id)
            .Skip((number - 1) * size).Take(size).ToListAsync(cancellationToken);
        return TypedResults.Ok(new AuditPage(number, size, rows));
    }

    private static ActionView View(ActionAnswer answer) => new(answer.Outcome, answer.Detail, answer.AuditId);

    /// <summary>
    /// An action not taken, as a problem of the status its handler's signature states (404 for no such job or run,
    /// 400 for an invalid request, 409 when the state refused it), carrying its audit row.
    /// </summary>
    internal static Problem<TStatus> Audited<TStatus>(string title, ActionAnswer answer) where TStatus : IProblemStatus =>
        // The detail is the audit row's: what the operator reads here is what the trail keeps.
        new(title, answer.Detail, new Dictionary<string, object?> { ["auditId"] = answer.AuditId });
}
