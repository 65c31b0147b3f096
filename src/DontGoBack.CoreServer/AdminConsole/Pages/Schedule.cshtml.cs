using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.AdminConsole.Pages;

/// <summary>
/// Each registered job's cron, zone, deadline and next fire times, in the zone and in UTC, and its
/// pause: paused and resumed from here with a reason (audited, cluster-wide, kept across restarts).
/// </summary>
public sealed class ScheduleModel(BatchJobs jobs, BatchCalendar calendar, DontGoBackDbContext db, OperatorActions actions, TimeProvider time)
    : PageModel
{
    public const int NextFires = 5;

    public IReadOnlyList<(DailyJobDefinition Job, DailySchedule Schedule, IReadOnlyList<DateTimeOffset> Fires, SchedulePause? Pause)> Jobs
    {
        get;
        private set;
    } = [];

    /// <summary>What came of the action just taken, and on which job.</summary>
    [BindProperty(SupportsGet = true)] public string? Done { get; set; }

    [BindProperty(SupportsGet = true)] public string? Refused { get; set; }

    /// <summary>The batch zone's today: the deadline's zone label is the one it has today (a zone's summer time changes it).</summary>
    public DateOnly Today => calendar.Today;

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var pauses = await db.SchedulePauses.AsNoTracking().ToDictionaryAsync(p => p.JobName, cancellationToken);
        Jobs = jobs.All.Select(j =>
        {
            var schedule = j.Describe(calendar);
            return (j.Definition, schedule, schedule.NextFires(now, NextFires), pauses.GetValueOrDefault(j.Definition.Name));
        }).ToList();
    }

    public Task<IActionResult> OnPostPauseAsync(string job, string? reason) => ActAsync(job, reason, pause: true);

    public Task<IActionResult> OnPostResumeAsync(string job, string? reason) => ActAsync(job, reason, pause: false);

    /// <summary>
    /// Every post is audited, whatever comes of it (no such job, no reason, already paused), as the API audits it.
    /// Not the request's token: a pause begun is carried through, its trigger set and its row audited, even if the browser goes.
    /// </summary>
    private async Task<IActionResult> ActAsync(string job, string? given, bool pause)
    {
        var who = Operator.Of(HttpContext);
        var kind = pause ? OperatorActionKind.Pause : OperatorActionKind.Resume;
        if (!jobs.TryFind(job, out var registered, out var unknown))
        {
            await actions.RejectAsync(kind, null, null, null, given, who, unknown, CancellationToken.None, noSuchTarget: true);
            return this.NotFoundPage($"{char.ToUpperInvariant(unknown[0])}{unknown[1..]}.");
        }
        var definition = registered.Definition;
        var answer = OperatorActions.TryReadReason(given, required: true, out var reason, out var problem)
            ? pause ? await actions.PauseAsync(definition, reason!, who, CancellationToken.None) : await actions.ResumeAsync(definition, reason!, who, CancellationToken.None)
            : await actions.RejectAsync(kind, definition.Name, null, null, reason, who, problem!, CancellationToken.None);
        var message = Uri.EscapeDataString($"{definition.Name}: {answer.Detail}");
        return Redirect($"{ConsolePaths.Root}/schedule?{(answer.Outcome == OperatorActionOutcome.Accepted ? "done" : "refused")}={message}");
    }
}
