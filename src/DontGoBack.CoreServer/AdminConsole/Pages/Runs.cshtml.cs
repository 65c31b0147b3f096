using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace DontGoBack.CoreServer.AdminConsole.Pages;

/// <summary>Every job's runs, newest first, filtered by job, status and day range, paged in the database.</summary>
public sealed class RunsModel(ConsoleReader reader, BatchJobs jobs, BatchCalendar calendar) : PageModel
{
    [BindProperty(SupportsGet = true)] public string? Job { get; set; }
    [BindProperty(SupportsGet = true)] public string? Status { get; set; }
    [BindProperty(SupportsGet = true)] public string? From { get; set; }
    [BindProperty(SupportsGet = true, Name = "to")] public string? To { get; set; }
    [BindProperty(SupportsGet = true, Name = "p")] public int PageNumber { get; set; } = 1;

    public IReadOnlyList<string> JobNames => jobs.RunNames;

    public RunsPage? Runs { get; private set; }

    /// <summary>What was wrong with the filter, shown instead of the runs.</summary>
    public string? Problem { get; private set; }

    public TimeZoneInfo Zone => calendar.Zone;

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        if (!ModelState.IsValid || PageNumber is < 1 or > BatchRunsEndpoints.MaxPage)
        {
            Problem = $"p (the page) is 1 to {BatchRunsEndpoints.MaxPage}.";
            return;
        }
        var job = string.IsNullOrEmpty(Job) ? null : Job;
        if (job is not null && !jobs.TryFindRun(job, out _, out var unknown))
        {
            Problem = unknown;
            return;
        }
        BatchRunStatus? status = null;
        if (!string.IsNullOrEmpty(Status))
        {
            if (!ConsoleFormat.TryParseStatus(Status, out var parsed))
            {
                Problem = $"status must be one of: {string.Join(", ", Enum.GetValues<BatchRunStatus>().Select(s => s.ToText()))}.";
                return;
            }
            status = parsed;
        }
        DateOnly? from = null, to = null;
        if (!string.IsNullOrEmpty(From))
        {
            if (!calendar.TryParseDay(From, "from", out var day, out var problem, latest: DateOnly.MaxValue))
            {
                Problem = problem;
                return;
            }
            from = day;
        }
        if (!string.IsNullOrEmpty(To))
        {
            if (!calendar.TryParseDay(To, "to", out var day, out var problem, latest: DateOnly.MaxValue))
            {
                Problem = problem;
                return;
            }
            to = day;
        }
        Runs = await reader.RunsAsync(new RunsFilter(job, status, from, to), PageNumber, cancellationToken);
    }

    public string PageLink(int page) => QueryString.Create(new Dictionary<string, string?>
    {
        ["job"] = Job, ["status"] = Status, ["from"] = From, ["to"] = To, ["p"] = page.ToString(System.Globalization.CultureInfo.InvariantCulture),
    }.Where(p => !string.IsNullOrEmpty(p.Value))).ToUriComponent();
}
