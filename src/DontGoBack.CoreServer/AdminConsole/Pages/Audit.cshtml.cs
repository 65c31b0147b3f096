using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.AdminConsole.Pages;

/// <summary>Every operator action (trigger, retry, cancel, pause, resume), from the console or the HTTP API, newest first, paged by id in the database.</summary>
public sealed class AuditModel(DontGoBackDbContext db, BatchJobs jobs, BatchCalendar calendar) : PageModel
{
    public const int PageSize = 50;

    [BindProperty(SupportsGet = true)] public string? Job { get; set; }

    /// <summary>Keyset: the page starts below this id.</summary>
    [BindProperty(SupportsGet = true)] public long? Before { get; set; }

    public IReadOnlyList<OperatorAction> Actions { get; private set; } = [];
    public long? NextBefore { get; private set; }
    public IReadOnlyList<string> JobNames => jobs.Names;

    /// <summary>What was wrong with the filter (a name that is no job), shown instead of the actions.</summary>
    public string? Problem { get; private set; }
    public TimeZoneInfo Zone => calendar.Zone;

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(Job) && !jobs.TryFind(Job, out _, out var unknown))
        {
            Problem = unknown;
            return;
        }
        var actions = db.OperatorActions.AsNoTracking();
        // The audit table queried by the job's name, as its rows record it.
        if (!string.IsNullOrEmpty(Job))
            actions = actions.Where(a => a.JobName == Job);
        if (Before is { } before)
            actions = actions.Where(a => a.Id < before);
        var rows = await actions.OrderByDescending(a => a.Id).Take(PageSize + 1).ToListAsync(cancellationToken);
        Actions = rows.Take(PageSize).ToList();
        NextBefore = rows.Count > PageSize ? Actions[^1].Id : null;
    }

    public string NextLink => QueryString.Create(new Dictionary<string, string?>
    {
        ["job"] = Job, ["before"] = NextBefore?.ToString(System.Globalization.CultureInfo.InvariantCulture),
    }.Where(p => !string.IsNullOrEmpty(p.Value))).ToUriComponent();
}
