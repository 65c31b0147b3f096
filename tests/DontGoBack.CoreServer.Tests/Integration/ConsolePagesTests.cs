using System.Globalization;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The console's pages agree with each other, in a real browser: what is not there gets the console's own 404 page
/// (behind its sign-in, with its headers), the user page tells the user's story (status changes, today's failure and
/// its run), and every time says its zone, the live chart's axis included.
/// </summary>
[Collection(ConsoleBrowserCollection.Name)]
public sealed partial class ConsolePagesTests(ConsoleBrowser browser)
{
    /// <summary>CoreServerApp's pinned clock is 09:00 on this day in Seoul: today.</summary>
    private static readonly DateOnly Day = new(2025, 8, 10);

    private static readonly TimeZoneInfo Seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
    private const string Token = "console-pages-token";

    private static readonly PageWaitForURLOptions AddressChanged = new() { WaitUntil = WaitUntilState.Commit };

    private static Dictionary<string, string?> Settings(bool withToken = false) => new()
    {
        ["InternalAccess:AdminToken"] = withToken ? Token : null,
        ["Batch:ProgressInterval"] = "00:00:00.150",
        ["AssetRefresh:WriteChunkSize"] = "2",
        ["AssetRefresh:MaxWriteDelay"] = "00:00:00.050",
    };

    [Fact]
    public async Task An_unknown_run_gets_the_consoles_404_page_behind_its_sign_in_with_its_security_headers()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, Settings(withToken: true));
        var server = app.StartOnKestrel();
        var page = await browser.OpenAsync(server);

        // Not signed in: the unknown run is behind the sign-in like any page (it tells a stranger nothing, not even "not found").
        await page.GotoAsync("internal/console/runs/987654");
        Assert.EndsWith("/internal/console/sign-in?returnUrl=%2Finternal%2Fconsole%2Fruns%2F987654", page.Url);
        await page.FillAsync("#token", Token);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync("**/internal/console/runs/987654", AddressChanged);

        var answer = await page.GotoAsync("internal/console/runs/987654");
        Assert.NotNull(answer);
        Assert.Equal(404, answer.Status);
        Assert.StartsWith("text/html", await answer.HeaderValueAsync("content-type") ?? "");
        Assert.Equal("Not found", await page.TextContentAsync("h1"));
        Assert.Equal("There is no run 987654.", await page.TextContentAsync("[data-field=not-found-detail]"));
        // The console's own page: its navigation and sign-out, not a problem document.
        Assert.Equal(5, await page.Locator("header.top nav a").CountAsync());
        Assert.Equal(1, await page.Locator("form.signout").CountAsync());
        AssertSecurityHeaders(await answer.AllHeadersAsync());
        await ConsoleBrowser.ScreenshotAsync(page, "not-found-run");

        // An address no page has, a run id that is not a number, an unknown user: the same page, saying what was not there.
        foreach (var (path, detail) in new[]
                 {
                     ("internal/console/no-such-page", "There is nothing at /internal/console/no-such-page."),
                     ("internal/console/runs/abc", "There is nothing at /internal/console/runs/abc."),
                     ("internal/console/users/987654", "There is no user 987654."),
                     // The run page's live stream of an unknown run: not an empty 200 stream.
                     ("internal/console/runs/987654/live", "There is nothing at /internal/console/runs/987654/live."),
                 })
        {
            var other = await page.GotoAsync(path);
            Assert.Equal((404, "Not found"), (other!.Status, await page.TextContentAsync("h1")));
            Assert.Equal(detail, await page.TextContentAsync("[data-field=not-found-detail]"));
            AssertSecurityHeaders(await other.AllHeadersAsync());
        }
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_user_whose_refresh_failed_today_shows_the_failure_its_reason_and_a_link_to_the_run(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings());
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server };
        var users = await app.AddActiveUsersAsync(3, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.BadRequest, users[1]);
        var run = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.CompletedWithFailures, 1), (run.Status, run.Failed));
        var failure = Assert.Single(await app.FailuresAsync(Day));

        var page = await browser.OpenAsync(server);
        await page.GotoAsync($"internal/console/users/{users[1]}");
        await page.WaitForSelectorAsync("[data-field=amount]");
        var failed = page.Locator("[data-test=failed-today]");
        Assert.Equal(1, await failed.CountAsync());
        Assert.Equal(failure.Reason, await failed.Locator("[data-field=failure-reason]").TextContentAsync());
        Assert.Contains($"Today's asset-refresh ({Day:yyyy-MM-dd}) failed for this user", await failed.TextContentAsync());
        await ConsoleBrowser.ScreenshotAsync(page, $"user-failed-today-{provider}");

        // The link leads to the day's run, which opens.
        var link = failed.Locator("[data-test=failed-run]");
        Assert.Equal($"/internal/console/runs/{run.RunId}", await link.GetAttributeAsync("href"));
        var opened = await page.RunAndWaitForResponseAsync(() => link.ClickAsync(), r => r.Url.EndsWith($"/internal/console/runs/{run.RunId}", StringComparison.Ordinal));
        Assert.Equal(200, opened.Status);
        Assert.Equal("completed_with_failures", await page.TextContentAsync("[data-field=run-status]"));

        // A user the run refreshed has no failure to show (the page is loaded: its amount is there).
        await page.GotoAsync($"internal/console/users/{users[0]}");
        await page.WaitForSelectorAsync("[data-field=amount]");
        Assert.Equal(0, await page.Locator("[data-test=failed-today]").CountAsync());
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_dormant_users_page_lists_the_status_changes_with_their_reasons_newest_first(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings());
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server };
        // Opened and last active long over a year ago: dormant by any count.
        var user = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-500), 1_000_000));
        await using (var db = database.CreateContext())
        {
            var lastActive = new DateTimeOffset(Day.AddDays(-400).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            await db.Users.Where(u => u.Id == user).ExecuteUpdateAsync(set => set.SetProperty(u => u.LastActivityAt, lastActive)
                .SetProperty(u => u.CreatedAt, lastActive.AddDays(-100)));
        }
        var dormancy = await RefreshRuns.ResultOfAsync(await client.PostAsync($"/internal/batch/user-dormancy/runs?day={Day:yyyy-MM-dd}", null));
        Assert.Equal((BatchRunStatus.Completed, 1), (dormancy.Status, dormancy.Success));

        var page = await browser.OpenAsync(server);
        await page.GotoAsync($"internal/console/users/{user}");
        var rows = page.Locator("[data-test=status-changes] tbody tr");
        Assert.Equal(1, await rows.CountAsync());
        var dormant = await Cells(rows.Nth(0));
        Assert.Equal(("ACTIVE", "INACTIVE", $"dormant: no activity for 365 days before {Day:yyyy-MM-dd}"), (dormant[1], dormant[2], dormant[3]));
        Assert.Matches(LabelledDateTime(), dormant[0]);

        // Activity wakes the account: the page lists the reactivation above the dormancy, with its own reason.
        Assert.True((await client.PostAsync($"/internal/users/{user}/activity", null)).IsSuccessStatusCode);
        await page.ReloadAsync();
        Assert.Equal(2, await rows.CountAsync());
        var woken = await Cells(rows.Nth(0));
        Assert.Equal(("INACTIVE", "ACTIVE", UserActivity.ReactivatedReason), (woken[1], woken[2], woken[3]));
        Assert.Equal("INACTIVE", (await Cells(rows.Nth(1)))[2]);
        Assert.Equal(ConsoleTime(app.Time.GetUtcNow(), "yyyy-MM-dd HH:mm:ss") + " KST", woken[0]);
        await ConsoleBrowser.ScreenshotAsync(page, $"user-status-changes-{provider}");
    }

    [Fact]
    public async Task The_run_pages_times_and_its_live_charts_axis_are_in_the_batch_zone_and_say_so()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var settings = Settings();
        settings["AssetRefresh:MaxConcurrency"] = "1";
        // A held call waits for the test, not for a timeout that would count its user as failed.
        settings["Extension:AttemptTimeout"] = "00:05:00";
        settings["Extension:UserDeadline"] = "00:10:00";
        await using var app = new CoreServerApp(database, settings);
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromMinutes(5) };
        await app.AddActiveUsersAsync(30, Day.AddDays(-1), 1_000_000);
        app.Extension.HoldCalls();
        app.Time.StartTicking();
        var running = client.RunDayAsync(Day);
        BatchRun? run = null;
        await Eventually.UntilAsync(async () => (run = await RunOfDayAsync(app)) is { Status: BatchRunStatus.Running } || running.IsCompleted,
            TimeSpan.FromSeconds(20));

        var page = await browser.OpenAsync(server);
        await page.GotoAsync($"internal/console/runs/{run!.Id}");
        // The run's start as stored (UTC), shown in Seoul with its label.
        Assert.Equal(ConsoleTime(run.StartedAt, "yyyy-MM-dd HH:mm:ss") + " KST", await page.TextContentAsync("dt:text-is('Started') + dd"));
        Assert.Matches(LabelledDateTime(), await page.TextContentAsync("section:has(h2:text-is('Attempts')) tbody tr td:nth-child(4)") ?? "");

        // The live chart's points are read at the server's times, on the page's clock: in Seoul and labelled, not in the browser's zone.
        app.Extension.LetThrough(3);
        await page.WaitForFunctionAsync("() => window.Chart && Chart.getChart('live-throughput')?.data.labels.length >= 1");
        var axis = await page.EvaluateAsync<string[]>("() => Chart.getChart('live-throughput').data.labels");
        Assert.All(axis, label => Assert.Matches(LabelledTime(), label));
        var serverNow = app.Time.GetUtcNow();
        Assert.All(axis, label => Assert.InRange(
            TimeOnly.ParseExact(label[..8], "HH:mm:ss", CultureInfo.InvariantCulture).ToTimeSpan(),
            TimeOnly.ParseExact(ConsoleTime(run.StartedAt, "HH:mm:ss"), "HH:mm:ss", CultureInfo.InvariantCulture).ToTimeSpan(),
            TimeOnly.ParseExact(ConsoleTime(serverNow, "HH:mm:ss"), "HH:mm:ss", CultureInfo.InvariantCulture).ToTimeSpan()));
        await ConsoleBrowser.ScreenshotAsync(page, "run-live-zone");

        app.Extension.StopHolding();
        Assert.Equal(BatchRunStatus.Completed, (await running).Status);
    }

    private static void AssertSecurityHeaders(Dictionary<string, string> headers)
    {
        Assert.Contains("frame-ancestors 'none'", headers["content-security-policy"]);
        Assert.Contains("script-src 'self'", headers["content-security-policy"]);
        Assert.Equal("DENY", headers["x-frame-options"]);
        Assert.Equal("nosniff", headers["x-content-type-options"]);
    }

    private static string ConsoleTime(DateTimeOffset instant, string format) =>
        TimeZoneInfo.ConvertTime(instant, Seoul).ToString(format, CultureInfo.InvariantCulture);

    private static async Task<string[]> Cells(ILocator row) => (await row.Locator("td").AllTextContentsAsync()).Select(t => t.Trim()).ToArray();

    private static async Task<BatchRun?> RunOfDayAsync(CoreServerApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().FindAsync("asset-refresh", Day, CancellationToken.None);
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} KST$")]
    private static partial Regex LabelledDateTime();

    [GeneratedRegex(@"^\d{2}:\d{2}:\d{2} KST$")]
    private static partial Regex LabelledTime();
}
