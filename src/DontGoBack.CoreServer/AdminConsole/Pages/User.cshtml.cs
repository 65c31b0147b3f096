using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.AdminConsole.Pages;

/// <summary>
/// One user: status and its changes (dormancy, reactivation, why), nickname and amount, what failed for the user
/// today with a link to the run, the profile graph (the public series' own reader) and the change history.
/// </summary>
public sealed class UserModel(
    DontGoBackDbContext db, AssetSeriesReader series, AssetChangeHistory history, BatchCalendar calendar, BatchJobs jobs,
    BatchRunLedger ledger) : PageModel
{
    public const int ChangesPageSize = 50;

    /// <summary>Status changes shown, newest first: a user's account changes a few times a year at most.</summary>
    public const int StatusChangesShown = 20;

    [BindProperty(SupportsGet = true, Name = "interval")] public string? IntervalText { get; set; }
    [BindProperty(SupportsGet = true)] public int Days { get; set; } = 90;
    [BindProperty(SupportsGet = true, Name = "changes")] public int ChangesPage { get; set; } = 1;

    public long Id { get; private set; }
    public User? Account { get; private set; }
    public long? Amount { get; private set; }
    public SeriesRead? Series { get; private set; }
    public SeriesInterval Interval { get; private set; }
    public IReadOnlyList<AssetChange> Changes { get; private set; } = [];
    public int ChangesTotal { get; private set; }
    public string? Problem { get; private set; }
    public TimeZoneInfo Zone => calendar.Zone;
    public DateOnly Today => calendar.Today;
    public IReadOnlyList<UserStatusChange> StatusChanges { get; private set; } = [];
    public int StatusChangesTotal { get; private set; }

    /// <summary>Each job whose run of today failed the user (still failed: a later success removes the failure), and that run.</summary>
    public IReadOnlyList<(string JobName, BatchRunFailure Failure, long? RunId)> FailedToday { get; private set; } = [];

    /// <summary>The id typed into the look-up form (the page's address carries it afterwards).</summary>
    [BindProperty(SupportsGet = true, Name = "userId")] public long? LookUp { get; set; }

    public async Task<IActionResult> OnGetAsync(long? id, CancellationToken cancellationToken)
    {
        if (id is null)
            return LookUp is { } typed ? Redirect(ConsolePaths.User(typed)) : Page();
        Id = id.Value;
        if (!ModelState.IsValid || Days is < 1 or > AssetEndpoints.MaxSeriesDays || ChangesPage is < 1 or > 100_000
            || !AssetSeries.TryParseInterval(IntervalText, out var interval))
        {
            Problem = $"interval is day, week or month; days 1 to {AssetEndpoints.MaxSeriesDays}; page from 1.";
            return Page();
        }
        Interval = interval;
        Account = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.Id == Id, cancellationToken);
        if (Account is null)
            return this.NotFoundPage($"There is no user {Id}.");
        var changes = db.UserStatusChanges.AsNoTracking().Where(c => c.UserId == Id);
        StatusChangesTotal = await changes.CountAsync(cancellationToken);
        StatusChanges = await changes.OrderByDescending(c => c.Id).Take(StatusChangesShown).ToListAsync(cancellationToken);
        FailedToday = await FailedTodayAsync(cancellationToken);
        Amount = await db.Users.AsNoTracking().Where(u => u.Id == Id)
            .Select(u => u.CurrentSnapshot == null ? (long?)null : u.CurrentSnapshot.ClosingAmount).SingleAsync(cancellationToken);
        var last = calendar.Today;
        var first = last.AddDays(-(Days - 1));
        // The public series' reader: the same points, colours and nickname the app shows (visible profiles only).
        Series = await series.ReadAsync(Id, first < calendar.EarliestDay ? calendar.EarliestDay : first, last, interval, cancellationToken);
        // The history reads as one sequence (each day's move put back between the recorded changes), so
        // it is merged for the one user and paged here, newest first: a user's history, not a table's.
        var all = await history.OfUserAsync(Id, cancellationToken);
        ChangesTotal = all.Count;
        Changes = Enumerable.Reverse(all).Skip((ChangesPage - 1) * ChangesPageSize).Take(ChangesPageSize).ToList();
        return Page();
    }

    private async Task<IReadOnlyList<(string, BatchRunFailure, long?)>> FailedTodayAsync(CancellationToken cancellationToken)
    {
        var today = calendar.Today;
        var failed = new List<(string, BatchRunFailure, long?)>();
        foreach (var job in jobs.All)
        {
            // The day's failures as the run page searches them, for this one user.
            if (job.FailuresIn(HttpContext.RequestServices) is not { } source)
                continue;
            var name = job.Definition.Name;
            if ((await source.SearchAsync(today, new FailureSearch(UserId: Id), afterUserId: null, pageSize: 1, cancellationToken)).Items is [var failure, ..])
                failed.Add((name, failure, (await ledger.FindAsync(name, today, cancellationToken))?.Id));
        }
        return failed;
    }

    public object GraphData() => new
    {
        labels = Series?.Points.Select(p => ConsoleFormat.Day(p.PeriodStart)).ToArray() ?? [],
        amounts = Series?.Points.Select(p => p.ClosingAmount).ToArray() ?? [],
        colours = Series?.Points.Select(p => p.Colour.ToString().ToUpperInvariant()).ToArray() ?? [],
    };

    public string Link(string? interval = null, int? page = null) => QueryString.Create(new Dictionary<string, string?>
    {
        ["interval"] = interval ?? IntervalText, ["days"] = Days.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["changes"] = page?.ToString(System.Globalization.CultureInfo.InvariantCulture),
    }.Where(p => !string.IsNullOrEmpty(p.Value))).ToUriComponent();
}
