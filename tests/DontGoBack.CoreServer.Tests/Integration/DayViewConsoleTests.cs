using System.Text.Json;
using DontGoBack.CoreServer.AdminConsole;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The console shows a day, not its latest attempt: a day run twice still reads what its first attempt
/// wrote, when it first started and the time all its attempts worked; a day no user was due reads as
/// nothing to do, neutral and never green.
/// </summary>
[Collection(ConsoleBrowserCollection.Name)]
public sealed class DayViewConsoleTests(ConsoleBrowser browser)
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private static readonly TimeZoneInfo Seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");

    /// <summary>The green of work done (console.css: .status.ok, and --ok on the strip).</summary>
    private const string OkPill = "rgb(223, 243, 232)";
    private const string OkStrip = "rgb(31, 157, 85)";

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Batch:ProgressInterval"] = "00:00:00.150",
        // A held call waits for the test, not for a timeout that would count its user as failed.
        ["Extension:AttemptTimeout"] = "00:05:00",
        ["Extension:UserDeadline"] = "00:10:00",
    };

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_day_run_twice_shows_what_the_day_wrote_its_first_start_and_its_working_time_not_the_latest_attempt(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings());
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromMinutes(5) };
        await app.AddActiveUsersAsync(12, Day.AddDays(-1), 1_000_000);

        // The first attempt works 90 s on the pinned clock: it starts, the clock moves while its calls are held, then it ends.
        var firstStart = app.Time.Now;
        app.Extension.HoldCalls();
        var running = client.RunDayAsync(Day);
        await Eventually.UntilAsync(async () => (await RunAsync(app))?.Status == BatchRunStatus.Running || running.IsCompleted, TimeSpan.FromSeconds(20));
        app.Time.Now = firstStart.AddSeconds(90);
        app.Extension.StopHolding();
        var first = await running;
        Assert.Equal((BatchRunStatus.Completed, 12), (first.Status, first.Success));

        // Ten minutes later the day is run again: the attempt finds every user done, writes nothing and takes no time.
        app.Time.Now = firstStart.AddMinutes(10);
        var second = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.Completed, 0, 12), (second.Status, second.Success, second.Skipped));

        var (started, working) = (ConsoleFormat.DateTime(firstStart, Seoul), "1 min 30 s");
        var page = await browser.OpenAsync(server);
        await page.GotoAsync("internal/console");
        var card = page.Locator("[data-job=asset-refresh]");
        Assert.Equal("12", await card.Locator("[data-field=day-written]").TextContentAsync());
        Assert.Equal(started, await card.Locator("[data-field=day-started]").TextContentAsync());
        Assert.Equal(working, await card.Locator("[data-field=day-working]").TextContentAsync());
        Assert.Contains("(2 attempts)", await card.Locator("[data-field=day-counts]").TextContentAsync());
        // The strip and the chart are the day's too: 90 s of work, every due user done.
        Assert.EndsWith("2025-08-10: completed, 12 written", await card.Locator(".strip li").Last.GetAttributeAsync("title"));
        using (var chart = JsonDocument.Parse(await card.Locator("script[data-chart-for]").TextContentAsync() ?? ""))
        {
            Assert.Equal(90.0, chart.RootElement.GetProperty("seconds").EnumerateArray().Last().GetDouble());
            Assert.Equal(100.0, chart.RootElement.GetProperty("ratio").EnumerateArray().Last().GetDouble());
        }
        await ConsoleBrowser.ScreenshotAsync(page, $"overview-day-run-twice-{provider}");

        await page.GotoAsync("internal/console/runs");
        var row = page.Locator($"tr[data-run='{first.RunId}']");
        Assert.Equal("12", await row.Locator("[data-field=written]").TextContentAsync());
        Assert.Equal(started, await row.Locator("[data-field=started]").TextContentAsync());
        Assert.Equal(working, await row.Locator("[data-field=working]").TextContentAsync());

        await page.GotoAsync($"internal/console/runs/{first.RunId}");
        Assert.Equal("12", await page.TextContentAsync("[data-field=day-written]"));
        Assert.Equal(started, await page.TextContentAsync("[data-field=day-started]"));
        Assert.Equal(working, await page.TextContentAsync("[data-field=day-working]"));
        // The latest attempt's own counts stay beside the day's.
        Assert.Equal("0", await page.TextContentAsync("[data-field=success]"));
        await ConsoleBrowser.ScreenshotAsync(page, $"run-day-run-twice-{provider}");
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_day_before_every_account_opened_is_nothing_to_do_shown_neutral_never_green(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings());
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server };
        await app.AddActiveUsersAsync(5, Day.AddDays(-1), 1_000_000);
        var before = Day.AddDays(-3);

        var result = await client.RunDayAsync(before);

        Assert.Equal((BatchRunStatus.NothingToDo, 5, 0, 5, 5), (result.Status, result.Total, result.Success, result.Skipped, result.NotDue));
        var page = await browser.OpenAsync(server);
        await page.GotoAsync($"internal/console/runs/{result.RunId}");
        var status = page.Locator("[data-field=run-status]");
        Assert.Equal("nothing_to_do", await status.TextContentAsync());
        Assert.Equal("status nothing", await status.GetAttributeAsync("class"));
        Assert.NotEqual(OkPill, await BackgroundAsync(status));
        Assert.Contains("not due 5", await page.TextContentAsync("[data-field=day-counts]"));
        await ConsoleBrowser.ScreenshotAsync(page, $"run-nothing-to-do-{provider}");

        await page.GotoAsync("internal/console/runs");
        var listed = page.Locator($"tr[data-run='{result.RunId}'] .status");
        Assert.Equal(("nothing_to_do", "status nothing"), (await listed.TextContentAsync(), await listed.GetAttributeAsync("class")));
        Assert.NotEqual(OkPill, await BackgroundAsync(listed));

        await page.GotoAsync("internal/console");
        var strip = page.Locator("[data-job=asset-refresh] .strip li").Nth(ConsoleReader.StripDays - 1 - (Day.DayNumber - before.DayNumber));
        Assert.Equal("2025-08-07: nothing_to_do, 0 written", await strip.GetAttributeAsync("title"));
        Assert.Equal("nothing", await strip.GetAttributeAsync("class"));
        Assert.NotEqual(OkStrip, await BackgroundAsync(strip));
        using var chart = JsonDocument.Parse(await page.Locator("[data-job=asset-refresh] script[data-chart-for]").TextContentAsync() ?? "");
        // Nothing was due, so there is no success ratio to draw for the day.
        Assert.Equal(JsonValueKind.Null, chart.RootElement.GetProperty("ratio")[ConsoleReader.StripDays - 1 - (Day.DayNumber - before.DayNumber)].ValueKind);
        await ConsoleBrowser.ScreenshotAsync(page, $"overview-nothing-to-do-{provider}");

        // The schedule owes the day no more.
        await using var scope = app.Services.CreateAsyncScope();
        var ledger = scope.ServiceProvider.GetRequiredService<BatchRunLedger>();
        Assert.Contains(before, await ledger.CompletedDaysAsync("asset-refresh", before, before, CancellationToken.None));
    }

    private static Task<string> BackgroundAsync(ILocator element) =>
        element.EvaluateAsync<string>("e => getComputedStyle(e).backgroundImage !== 'none' ? getComputedStyle(e).backgroundImage : getComputedStyle(e).backgroundColor");

    private static async Task<BatchRun?> RunAsync(CoreServerApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<Persistence.DontGoBackDbContext>();
        return await db.BatchRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Day == Day);
    }
}
