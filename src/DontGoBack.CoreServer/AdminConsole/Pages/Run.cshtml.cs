using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace DontGoBack.CoreServer.AdminConsole.Pages;

/// <summary>
/// One run: its attempts and partitions (who ran what), throughput, live progress, the day's
/// failures searched and paged in the database, and the action that runs the day again.
/// </summary>
public sealed class RunModel(
    BatchRunLedger ledger, RunProgressReader progress, ConsoleReader reader, BatchJobs jobs, BatchCalendar calendar, OperatorActions actions) : PageModel
{
    public const int FailuresPageSize = 50;

    [BindProperty(SupportsGet = true, Name = "user")] public long? UserId { get; set; }
    [BindProperty(SupportsGet = true, Name = "class")] public string? FailureClass { get; set; }
    [BindProperty(SupportsGet = true)] public string? Reason { get; set; }
    [BindProperty(SupportsGet = true)] public long? After { get; set; }

    /// <summary>Set when the console has just started the day again: the attempt count before it did.</summary>
    [BindProperty(SupportsGet = true)] public int? Started { get; set; }

    public BatchRun Run { get; private set; } = null!;
    public IReadOnlyList<BatchRunAttempt> Attempts { get; private set; } = [];
    /// <summary>The day over all its attempts: its start, time spent working and counts.</summary>
    public RunDayView Day { get; private set; } = null!;
    public RunProgressView? Progress { get; private set; }

    /// <summary>The day as the engine's standing judges it, with its open alerts; null for a back-fill's subset.</summary>
    public RunStanding? Standing { get; private set; }
    public IReadOnlyList<BatchRunPartition> Partitions { get; private set; } = [];
    public IBatchRunFailures? Failures { get; private set; }
    public FailureSearchPage? FailurePage { get; private set; }
    public string? Problem { get; private set; }
    public string? Notice { get; private set; }
    public TimeZoneInfo Zone => calendar.Zone;

    /// <summary>Whether the run may be started again from here: a job's own run (a back-fill's subset is run with `backfill`), not running.</summary>
    public bool CanRunAgain => Run.Status != BatchRunStatus.Running && jobs.TryFind(Run.JobName, out _, out _);

    /// <summary>The job's own counters summed over the day's attempts, in the job's words; null when it has nothing to tell.</summary>
    public string? DayCounters => jobs.TryFindRun(Run.JobName, out var job, out _) ? job.Definition.Describe(Day.Counters) : null;

    /// <summary>The console started the day again and its attempt has not claimed the run yet: the page follows until it does.</summary>

    public bool AwaitingClaim => Started is { } before && Run.Attempts <= before && Run.Status != BatchRunStatus.Running;

    public async Task<IActionResult> OnGetAsync(long id, CancellationToken cancellationToken)
    {
        if (await ledger.FindAsync(id, cancellationToken) is not { } run)
            return this.NotFoundPage($"There is no run {id}.");
        Run = run;
        Attempts = await ledger.AttemptsAsync(id, cancellationToken);
        Day = (await progress.AttemptsAsync(run, cancellationToken)).Day;
        Progress = await progress.LiveAsync(run, cancellationToken);
        Standing = await reader.StandingOfAsync(run, Progress, cancellationToken);
        Partitions = await reader.PartitionsAsync(id, cancellationToken);
        // A back-fill's subset run finds its job's failures as the job's own run does.
        Failures = jobs.FailuresOf(run, HttpContext.RequestServices);
        if (Started is not null && !AwaitingClaim && run.Status != BatchRunStatus.Running)
            Notice = $"Attempt {run.Attempts} ran: {run.Status.ToText()}.";
        if (Failures is null)
            return Page();
        if (!ModelState.IsValid)
        {
            Problem = "user and after are user ids (whole numbers).";
            return Page();
        }
        if (Reason is { Length: > FailureSearch.MaxReasonLength })
        {
            Problem = $"The reason to look for is at most {FailureSearch.MaxReasonLength} characters.";
            return Page();
        }
        if (!string.IsNullOrEmpty(FailureClass) && !Failures.FailureClasses.Contains(FailureClass, StringComparer.OrdinalIgnoreCase))
        {
            Problem = $"class must be one of: {string.Join(", ", Failures.FailureClasses)}.";
            return Page();
        }
        var search = new FailureSearch(UserId, string.IsNullOrEmpty(FailureClass) ? null : FailureClass, string.IsNullOrWhiteSpace(Reason) ? null : Reason.Trim());
        FailurePage = await Failures.SearchAsync(run.Day, search, After, FailuresPageSize, cancellationToken);
        return Page();
    }

    /// <summary>
    /// Runs the day again as a continuation: only users not done yet (the failed, and any never reached).
    /// Every post is audited, whatever comes of it: a day already running is refused, as the API refuses it.
    /// </summary>
    public async Task<IActionResult> OnPostRunAgainAsync(long id)
    {
        // Not the request's token, here and in the other posts: an action begun is carried through and audited even if the browser goes.
        var who = Operator.Of(HttpContext);
        if (await ledger.FindAsync(id, CancellationToken.None) is not { } run)
        {
            await actions.RejectAsync(OperatorActionKind.Trigger, null, id, null, null, who, $"there is no run {id}", CancellationToken.None, noSuchTarget: true);
            return this.NotFoundPage($"There is no run {id}.");
        }
        Run = run;
        var kind = run.Failed > 0 || run.Status is BatchRunStatus.Failed or BatchRunStatus.Aborted ? OperatorActionKind.Retry : OperatorActionKind.Trigger;
        var answer = jobs.TryFind(run.JobName, out var job, out _)
            ? await actions.StartDayAsync(job, run.Day, kind, reason: null, who, CancellationToken.None)
            : await actions.RejectAsync(kind, null, run.Id, run.Day, null, who,
                $"run {run.Id} ({run.JobName}) is not a job's own run; `backfill` runs a subset again", CancellationToken.None);
        return Redirect(answer.Outcome == OperatorActionOutcome.Accepted
            ? $"{ConsolePaths.Run(id)}?started={run.Attempts}"
            : $"{ConsolePaths.Run(id)}?notStarted={Uri.EscapeDataString(answer.Detail)}");
    }

    /// <summary>Asks the running run to stop wherever it works (audited, a reason required); it ends aborted and can be run again.</summary>
    public async Task<IActionResult> OnPostCancelAsync(long id, string? cancelReason)
    {
        var who = Operator.Of(HttpContext);
        if (!OperatorActions.TryReadReason(cancelReason, required: true, out var reason, out var problem))
        {
            var run = await ledger.FindAsync(id, CancellationToken.None);
            await actions.RejectAsync(OperatorActionKind.Cancel, run?.JobName, id, run?.Day, reason, who, problem!, CancellationToken.None);
            return Redirect($"{ConsolePaths.Run(id)}?cancelProblem={Uri.EscapeDataString(problem!)}");
        }
        var answer = await actions.CancelAsync(id, reason!, who, CancellationToken.None);
        if (answer.NoSuchTarget)
            return this.NotFoundPage($"There is no run {id}.");
        return Redirect($"{ConsolePaths.Run(id)}?cancelled={Uri.EscapeDataString(answer.Detail)}");
    }

    /// <summary>Why the day was not started again just now (already running, not a job's own run).</summary>
    [BindProperty(SupportsGet = true)] public string? NotStarted { get; set; }

    /// <summary>What came of a cancel just asked for, or why it was not taken.</summary>
    [BindProperty(SupportsGet = true)] public string? Cancelled { get; set; }

    [BindProperty(SupportsGet = true)] public string? CancelProblem { get; set; }

    public string FailuresLink(long? after) => QueryString.Create(new Dictionary<string, string?>
    {
        ["user"] = UserId?.ToString(System.Globalization.CultureInfo.InvariantCulture), ["class"] = FailureClass, ["reason"] = Reason,
        ["after"] = after?.ToString(System.Globalization.CultureInfo.InvariantCulture),
    }.Where(p => !string.IsNullOrEmpty(p.Value))).ToUriComponent() + "#failures";

    /// <summary>
    /// The latest attempt's counts: while it runs, its own as its progress last wrote them (the run's row
    /// holds the attempt before it until it ends, and a cluster's partitions hold them); after, as it recorded them
    /// (the run's own for a run from before attempts were kept).
    /// </summary>
    public RunProgressCounts LatestAttempt => Progress is { } live
        ? new RunProgressCounts(live.Expected, live.Seen, live.Success, live.Skipped, live.Failed)
        : Attempts.Count > 0 ? Attempts[^1].Counts
        : new RunProgressCounts(0, Run.Total, Run.Success, Run.Skipped, Run.Failed);

    /// <summary>Users processed per second of each attempt over its own time, for the throughput chart; no bar (null) for a pass that found nothing to do.</summary>
    public object ThroughputData() => new
    {
        labels = Attempts.Select(a => a.FoundNothingToDo ? $"attempt {a.Attempt} (nothing to do)" : $"attempt {a.Attempt}").ToArray(),
        rate = Attempts.Select(a => a.UsersPerSecond).ToArray(),
    };
}
