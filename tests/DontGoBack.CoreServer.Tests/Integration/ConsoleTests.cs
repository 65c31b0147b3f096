using System.Net;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using DontGoBack.CoreServer.AdminConsole.Pages;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.Playwright;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>The operations console in a real browser (headless Chromium over a real Kestrel port), on both providers where data matters.</summary>
[Collection(ConsoleBrowserCollection.Name)]
public sealed partial class ConsoleTests(ConsoleBrowser browser)
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private const string Token = "console-test-token";

    /// <summary>
    /// A navigation counts once the new address is committed: the steps after it wait on the DOM they
    /// read, rather than on the page's load event, which a loaded machine can hold back past any timeout.
    /// </summary>
    private static readonly PageWaitForURLOptions AddressChanged = new() { WaitUntil = WaitUntilState.Commit };

    private static Dictionary<string, string?> Settings(bool withToken = false, int concurrency = 8) => new()
    {
        ["InternalAccess:AdminToken"] = withToken ? Token : null,
        ["Batch:ProgressInterval"] = "00:00:00.150",
        ["AssetRefresh:MaxConcurrency"] = concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["AssetRefresh:WriteChunkSize"] = "2",
        ["AssetRefresh:MaxWriteDelay"] = "00:00:00.050",
    };

    [Fact]
    public async Task Sign_in_with_the_admin_token_opens_the_console_and_a_wrong_token_is_refused()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, Settings(withToken: true));
        var server = app.StartOnKestrel();
        var page = await browser.OpenAsync(server);

        // Without the cookie a page sends the browser to sign in, and comes back after.
        await page.GotoAsync("internal/console/runs");
        Assert.EndsWith("/internal/console/sign-in?returnUrl=%2Finternal%2Fconsole%2Fruns", page.Url);
        await ConsoleBrowser.ScreenshotAsync(page, "sign-in");

        await page.FillAsync("#token", "not-the-token");
        await page.ClickAsync("button[type=submit]");
        await page.WaitForSelectorAsync("[data-test=sign-in-refused]");
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == Hosting.AdminSession.CookieName);
        var refused = await page.Context.APIRequest.GetAsync("internal/batch/runs");
        Assert.Equal(401, refused.Status);

        await page.FillAsync("#token", Token);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync("**/internal/console/runs", AddressChanged);
        Assert.Equal("Runs", await page.TextContentAsync("h1"));
        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == Hosting.AdminSession.CookieName);
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.DoesNotContain(Token, cookie.Value, StringComparison.Ordinal);
        // The cookie stands for the header on the API too.
        var api = await page.Context.APIRequest.GetAsync("internal/batch/runs");
        Assert.Equal(200, api.Status);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task The_overview_follows_a_paced_run_live_with_its_eta(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = Settings(concurrency: 1);
        // A held call waits for the test, not for a timeout that would count its user as failed.
        settings["Extension:AttemptTimeout"] = "00:05:00";
        settings["Extension:UserDeadline"] = "00:10:00";
        await using var app = new CoreServerApp(database, settings);
        var server = app.StartOnKestrel();
        // The run waits for the test as long as the browser takes, which may be past HttpClient's default 100 s.
        using var client = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromMinutes(5) };
        await app.AddActiveUsersAsync(60, Day.AddDays(-1), 1_000_000);
        // The test lets the calls through a few at a time, so the run cannot end before the browser has watched it
        // (a loaded machine once took longer to open the page than a timed run took to finish).
        app.Extension.HoldCalls();
        app.Time.StartTicking();

        var running = client.RunDayAsync(Day);
        await Eventually.UntilAsync(async () => await RunStatusAsync(app, Day) == BatchRunStatus.Running || running.IsCompleted, TimeSpan.FromSeconds(20));
        var page = await browser.OpenAsync(server);
        await page.GotoAsync("internal/console");
        var job = page.Locator("[data-job=asset-refresh]");
        var first = int.Parse(await job.Locator(".progress").GetAttributeAsync("data-processed") ?? "0", System.Globalization.CultureInfo.InvariantCulture);

        // The bar moves by the events alone (the page is not reloaded while the run works), twice.
        app.Extension.LetThrough(4);
        var seen = await WaitForSeenAboveAsync(page, first);
        app.Extension.LetThrough(4);
        seen = await WaitForSeenAboveAsync(page, seen);
        Assert.InRange(seen, first + 2, 8);
        Assert.Matches(TimeOfDay(), await job.Locator("[data-field=eta]").TextContentAsync() ?? "");
        // An ETA needs a rate above zero; the rate's own figure falls to 0.0 if the browser took minutes.
        Assert.Matches(@"^\d+\.\d$", await job.Locator("[data-field=rate]").TextContentAsync() ?? "");
        Assert.Equal("60", await job.Locator("[data-field=expected]").TextContentAsync());
        await ConsoleBrowser.ScreenshotAsync(page, $"overview-running-{provider}");

        // When the run ends the page shows its outcome.
        app.Extension.StopHolding();
        var result = await running;
        Assert.Equal(BatchRunStatus.Completed, result.Status);
        await page.WaitForSelectorAsync("[data-job=asset-refresh] [data-field=status]:text-is('completed')");
        await ConsoleBrowser.ScreenshotAsync(page, $"overview-{provider}");
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_runs_failures_are_found_by_class_and_user_and_retrying_them_from_the_page_clears_them(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings());
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server };
        var users = await app.AddActiveUsersAsync(12, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.BadRequest, users[2], users[5]);
        app.Extension.Inject(Fault.ServerError, users[7]);
        var first = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.CompletedWithFailures, 3), (first.Status, first.Failed));

        var page = await browser.OpenAsync(server);
        await page.GotoAsync($"internal/console/runs/{first.RunId}");
        Assert.Equal("3 matching", await page.TextContentAsync("[data-field=failure-count]"));

        await page.SelectOptionAsync("select[name=class]", "Permanent");
        await page.ClickAsync("[data-action=search-failures]");
        await page.WaitForSelectorAsync("[data-field=failure-count]:text-is('2 matching')");
        Assert.Equal([users[2].ToString(), users[5].ToString()], await FailureUsersAsync(page));

        await page.SelectOptionAsync("select[name=class]", "");
        await page.FillAsync("input[name=user]", users[7].ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.ClickAsync("[data-action=search-failures]");
        await page.WaitForSelectorAsync("[data-field=failure-count]:text-is('1 matching')");
        Assert.Equal([users[7].ToString()], await FailureUsersAsync(page));
        Assert.Equal("Transient", await page.TextContentAsync("[data-test=failures] tbody tr td:nth-child(2)"));

        await page.FillAsync("input[name=user]", "");
        await page.FillAsync("input[name=reason]", "NO SUCH REASON");
        await page.ClickAsync("[data-action=search-failures]");
        await page.WaitForSelectorAsync("[data-field=failure-count]:text-is('0 matching')");
        await ConsoleBrowser.ScreenshotAsync(page, $"run-failures-{provider}");

        // Retry: the day runs again for the failed users only, and the page shows the counts change.
        app.Extension.ClearFaults();
        await page.ClickAsync("[data-action=run-again]");
        await page.WaitForSelectorAsync("[data-field=run-status]:text-is('completed')");
        Assert.Equal("0", await page.TextContentAsync("[data-field=failed-count]"));
        Assert.Equal("0", await page.TextContentAsync("[data-field=day-failed]"));
        Assert.Equal("3", await page.TextContentAsync("[data-field=success]"));
        Assert.Equal("0 matching", await page.TextContentAsync("[data-field=failure-count]"));
        Assert.Empty(await app.FailuresAsync(Day));
        await ConsoleBrowser.ScreenshotAsync(page, $"run-{provider}");
    }

    [Fact]
    public async Task A_running_run_is_cancelled_from_its_page_and_the_audit_shows_who_and_why()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, Settings(concurrency: 1));
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server };
        // One slowed call at a time, and three calls held until their deadline on the test's ticking
        // clock: more run left when a loaded machine's browser gets to the button.
        var users = await app.AddActiveUsersAsync(300, Day.AddDays(-1), 1_000_000);
        app.Extension.Latency = TimeSpan.FromMilliseconds(80);
        app.Extension.Inject(FakeExtensionServer.Fault.Block, users[0], users[100], users[200]);
        app.Time.StartTicking();
        var running = client.PostAsync($"{RefreshRuns.Path}?day={Day:yyyy-MM-dd}", null);
        await Eventually.UntilAsync(async () => await RunStatusAsync(app, Day) == BatchRunStatus.Running || running.IsCompleted, TimeSpan.FromSeconds(20));
        long runId;
        await using (var db = database.CreateContext())
            runId = db.BatchRuns.Single(r => r.Day == Day).Id;

        var page = await browser.OpenAsync(server);
        await page.GotoAsync($"internal/console/runs/{runId}");
        await page.FillAsync("input[name=cancelReason]", "wrong prices upstream");
        await page.ClickAsync("[data-action=cancel]");
        await page.WaitForSelectorAsync("[data-test=cancelled]");
        var answer = await running;

        Assert.Equal(HttpStatusCode.Conflict, answer.StatusCode);
        var run = await RunAsync(app, runId);
        Assert.Equal((BatchRunStatus.Aborted, "cancelled by an operator: wrong prices upstream"), (run.Status, run.Error));
        // The page reloads itself when its live stream sees the run end (or was served after it did): no reload of ours to race it.
        await page.WaitForSelectorAsync("[data-field=run-status]:text-is('aborted')");
        Assert.Equal(0, await page.Locator("[data-action=cancel]").CountAsync());
        Assert.Equal(1, await page.Locator("[data-action=run-again]").CountAsync());
        await ConsoleBrowser.ScreenshotAsync(page, "run-cancelled");

        await page.GotoAsync("internal/console/audit");
        var rows = page.Locator("[data-test=audit] tbody tr");
        Assert.Equal(["cancel", "trigger"], await rows.EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.action)"));
        var cancel = await rows.Nth(0).Locator("td").AllTextContentsAsync();
        // The run ended aborted by the cancel: its row says the cancel was applied.
        Assert.Equal(("127.0.0.1", Operator.NoToken, "wrong prices upstream", "applied"), (cancel[4], cancel[5], cancel[6], cancel[7]));
        await ConsoleBrowser.ScreenshotAsync(page, "audit");
    }

    [Fact]
    public async Task The_schedule_is_paused_and_resumed_with_a_reason_and_both_appear_in_the_audit()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var settings = Settings(withToken: true);
        settings["AssetRefresh:Enabled"] = "true";
        await using var app = new CoreServerApp(database, settings);
        var server = app.StartOnKestrel();
        var page = await browser.OpenAsync(server);
        await page.GotoAsync("internal/console/sign-in");
        await page.FillAsync("#token", Token);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync("**/internal/console", AddressChanged);

        await page.GotoAsync("internal/console/schedule");
        var job = page.Locator("[data-job=asset-refresh]");
        await job.Locator("input[name=reason]").FillAsync("extension maintenance until 10:00");
        await job.Locator("[data-action=pause]").ClickAsync();
        await page.WaitForSelectorAsync("[data-test=schedule-done]");
        Assert.Equal("paused", await job.Locator("[data-test=paused]").TextContentAsync());
        Assert.Contains("by admin from 127.0.0.1: extension maintenance until 10:00", await job.Locator("[data-test=pause-reason]").TextContentAsync());
        var scheduler = await app.Services.GetRequiredService<Quartz.ISchedulerFactory>().GetScheduler();
        Assert.Equal(Quartz.TriggerState.Paused, await scheduler.GetTriggerState(Batch.Asset.Job.AssetRefreshJob.Definition.CronKey));
        await ConsoleBrowser.ScreenshotAsync(page, "schedule-paused");

        await job.Locator("input[name=reason]").FillAsync("maintenance over");
        await job.Locator("[data-action=resume]").ClickAsync();
        await page.WaitForSelectorAsync("[data-test=schedule-done]:has-text('resumed')");
        Assert.Equal(0, await job.Locator("[data-test=paused]").CountAsync());
        Assert.Equal(Quartz.TriggerState.Normal, await scheduler.GetTriggerState(Batch.Asset.Job.AssetRefreshJob.Definition.CronKey));

        await page.GotoAsync("internal/console/audit");
        var rows = page.Locator("[data-test=audit] tbody tr");
        Assert.Equal(["resume", "pause"], await rows.EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.action)"));
        Assert.Equal(["admin", "admin"], await page.Locator("[data-test=audit] tbody tr td:nth-child(6)").AllTextContentsAsync());
        Assert.Equal(["maintenance over", "extension maintenance until 10:00"],
            await page.Locator("[data-test=audit] tbody tr td:nth-child(7)").AllTextContentsAsync());
    }

    [Fact]
    public async Task Every_console_post_leaves_one_audit_row_ten_run_agains_of_a_running_day_included()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var settings = Settings();
        // The held call waits for the test, not for a timeout of its own.
        (settings["Extension:AttemptTimeout"], settings["Extension:UserDeadline"]) = ("00:01:00", "00:02:00");
        await using var app = new CoreServerApp(database, settings);
        var users = await app.AddActiveUsersAsync(3, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.Block, users[0]);
        var api = app.CreateClient();
        var running = api.PostAsync($"{RefreshRuns.Path}?day={Day:yyyy-MM-dd}", null);
        await app.Extension.BlockedCallArrived.WaitAsync(TimeSpan.FromSeconds(30));
        long runId;
        await using (var db = database.CreateContext())
            runId = db.BatchRuns.Single(r => r.Day == Day).Id;

        // A page's forms as a browser posts them: the console's cookie and its antiforgery token.
        var console = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var token = AntiforgeryField().Match(await console.GetStringAsync($"/internal/console/runs/{runId}")).Groups[1].Value;
        FormUrlEncodedContent Form(params (string Name, string Value)[] fields) =>
            new(fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value)).Append(new("__RequestVerificationToken", token)));

        var runAgains = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => console.PostAsync($"/internal/console/runs/{runId}?handler=RunAgain", Form())));
        var cancelWithoutReason = await console.PostAsync($"/internal/console/runs/{runId}?handler=Cancel", Form(("cancelReason", "  ")));
        var pauseWithoutReason = await console.PostAsync("/internal/console/schedule?handler=Pause&job=asset-refresh", Form(("reason", "")));
        var pauseOfNoJob = await console.PostAsync("/internal/console/schedule?handler=Pause&job=no-such-job", Form(("reason", "x")));
        var resumeNotPaused = await console.PostAsync("/internal/console/schedule?handler=Resume&job=asset-refresh", Form(("reason", "nothing to resume")));
        app.Extension.ReleaseBlocked();
        Assert.Equal(BatchRunStatus.Completed, (await RefreshRuns.ResultOfAsync(await running)).Status);

        await using (var db = database.CreateContext())
        {
            var rows = db.OperatorActions.OrderBy(a => a.Id).AsEnumerable()
                .Select(a => (a.Action.ToText(), a.Outcome.ToText(), a.Detail)).ToList();
            // The API's trigger, then one row per console post, each saying what became of it.
            Assert.Equal(1 + 10 + 4, rows.Count);
            Assert.Equal(("trigger", "accepted"), (rows[0].Item1, rows[0].Item2));
            Assert.All(rows.Skip(1).Take(10), r => Assert.Equal(("trigger", "refused", $"run {runId} of {Day:yyyy-MM-dd} is already running"), r));
            Assert.Equal([("cancel", "invalid"), ("pause", "invalid"), ("pause", "invalid"), ("resume", "refused")],
                rows.Skip(11).Select(r => (r.Item1, r.Item2)));
            Assert.Equal("there is no job 'no-such-job'; the jobs are asset-refresh (some users only: asset-refresh-subset), user-dormancy, history-maintenance", rows[13].Detail);
        }
        Assert.All(runAgains, r => Assert.Equal(HttpStatusCode.Redirect, r.StatusCode));
        Assert.All(runAgains, r => Assert.Contains("notStarted=", r.Headers.Location!.OriginalString));
        Assert.Equal((HttpStatusCode.Redirect, HttpStatusCode.Redirect, HttpStatusCode.NotFound, HttpStatusCode.Redirect),
            (cancelWithoutReason.StatusCode, pauseWithoutReason.StatusCode, pauseOfNoJob.StatusCode, resumeNotPaused.StatusCode));
    }

    [Fact]
    public async Task Actions_without_the_token_are_401_and_a_post_without_the_antiforgery_token_is_refused()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, Settings(withToken: true));
        var users = await app.AddActiveUsersAsync(3, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.BadRequest, users[0]);
        var api = app.CreateClient();
        api.DefaultRequestHeaders.Add(Hosting.InternalAccessMiddleware.AdminTokenHeader, Token);
        var run = await api.RunDayAsync(Day);
        var runAgain = $"/internal/console/runs/{run.RunId}?handler=RunAgain";

        var anonymous = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        await (await anonymous.PostAsync(runAgain, new FormUrlEncodedContent([]))).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await anonymous.GetAsync($"/internal/console/runs/{run.RunId}/live")).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await anonymous.PostAsync(RefreshRuns.Path, null)).AssertProblemAsync(HttpStatusCode.Unauthorized);

        // Signed in (the cookie), but a form posted from another site carries no antiforgery token: refused.
        var browserLike = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var signIn = await browserLike.GetStringAsync("/internal/console/sign-in");
        var signedIn = await browserLike.PostAsync("/internal/console/sign-in", new FormUrlEncodedContent(
            [new("token", Token), new("__RequestVerificationToken", AntiforgeryField().Match(signIn).Groups[1].Value)]));
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        var crossSite = await browserLike.PostAsync(runAgain, new FormUrlEncodedContent([]));
        Assert.True(crossSite.StatusCode == HttpStatusCode.BadRequest, $"{crossSite.StatusCode}: {await crossSite.Content.ReadAsStringAsync()}");
        // A sign-in form posted from elsewhere (login CSRF) is refused the same way.
        var forgedSignIn = await anonymous.PostAsync("/internal/console/sign-in", new FormUrlEncodedContent([new("token", Token)]));
        Assert.Equal(HttpStatusCode.BadRequest, forgedSignIn.StatusCode);
        Assert.Equal(1, (await RunAsync(app, run.RunId!.Value)).Attempts);

        // The same post with the page's own token goes through: the refusal above was the token's absence.
        var runPage = await browserLike.GetStringAsync($"/internal/console/runs/{run.RunId}");
        var accepted = await browserLike.PostAsync(runAgain, new FormUrlEncodedContent(
            [new("__RequestVerificationToken", AntiforgeryField().Match(runPage).Groups[1].Value)]));
        Assert.Equal(HttpStatusCode.Redirect, accepted.StatusCode);
        await Eventually.UntilAsync(async () => (await RunAsync(app, run.RunId!.Value)) is { Attempts: 2, Status: not BatchRunStatus.Running },
            TimeSpan.FromSeconds(20));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_users_graph_is_drawn_with_blue_and_red_points_and_the_schedule_shows_fire_times(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings());
        var server = app.StartOnKestrel();
        // Up (BLUE), down (RED), up (BLUE): the colour is the market move's.
        var user = await app.AddUserAsync(AccountStatus.Active,
            (Day.AddDays(-4), 1_000_000), (Day.AddDays(-3), 1_010_000), (Day.AddDays(-2), 1_000_000), (Day.AddDays(-1), 1_020_000));

        var page = await browser.OpenAsync(server);
        await page.GotoAsync("internal/console/users");
        await page.FillAsync("input[name=userId]", user.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.ClickAsync("button[type=submit]");
        await page.WaitForSelectorAsync("[data-field=amount]");
        Assert.Equal("1,020,000 KRW", await page.TextContentAsync("[data-field=amount]"));
        Assert.Equal("102만", await page.TextContentAsync("[data-field=nickname]"));
        // Drawn in a Korean font, not as a missing-glyph box (scripts/test.sh installs fonts-noto-cjk).
        Assert.Empty(await ConsoleBrowser.MissingGlyphsAsync(page.Locator("[data-field=nickname]")));
        // What Chart.js drew: one point per day, coloured by the rule.
        await page.WaitForFunctionAsync("() => window.Chart && Chart.getChart('graph')");
        var colours = await page.EvaluateAsync<string[]>("() => Chart.getChart('graph').data.datasets[0].pointBackgroundColor");
        Assert.Equal(["#2563eb", "#2563eb", "#dc2626", "#2563eb"], colours);
        var table = await page.Locator("[data-test=graph-table] tbody tr td:last-child").AllTextContentsAsync();
        Assert.Equal(["BLUE", "BLUE", "RED", "BLUE"], table.Select(t => t.Trim()));
        // The three market moves (the first day opened the account without a recorded change here).
        Assert.Equal(["market", "market", "market"], (await page.Locator("[data-test=changes] tbody tr td:nth-child(2)").AllTextContentsAsync()).Select(t => t.Trim()));
        await ConsoleBrowser.ScreenshotAsync(page, $"user-{provider}");

        await page.GotoAsync("internal/console/schedule");
        Assert.Equal(ScheduleModel.NextFires, await page.Locator("[data-job=asset-refresh] tbody tr").CountAsync());
        // 03:00 in Seoul is 18:00 UTC the day before.
        Assert.Equal("2025-08-11 03:00:00 KST", await page.TextContentAsync("[data-job=asset-refresh] tbody tr td:first-child"));
        Assert.Equal("2025-08-10 18:00:00Z", await page.TextContentAsync("[data-job=asset-refresh] tbody tr td:nth-child(2)"));
        await ConsoleBrowser.ScreenshotAsync(page, $"schedule-{provider}");
    }

    private static async Task<int> WaitForSeenAboveAsync(IPage page, int seen)
    {
        await page.WaitForFunctionAsync(
            $"() => Number(document.querySelector('[data-job=asset-refresh] .progress')?.dataset.processed ?? 0) > {seen}");
        return int.Parse(await page.Locator("[data-job=asset-refresh] .progress").GetAttributeAsync("data-processed") ?? "0",
            System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<string[]> FailureUsersAsync(IPage page) =>
        (await page.Locator("[data-test=failures] tbody tr td:first-child").AllTextContentsAsync()).Select(t => t.Trim()).ToArray();

    private static async Task<BatchRunStatus?> RunStatusAsync(CoreServerApp app, DateOnly day)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().FindAsync("asset-refresh", day, CancellationToken.None))?.Status;
    }

    private static async Task<BatchRun> RunAsync(CoreServerApp app, long id)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().FindAsync(id, CancellationToken.None))!;
    }

    /// <summary>A time as the console writes it: in the batch zone, labelled.</summary>
    [GeneratedRegex(@"^\d{2}:\d{2}:\d{2} KST$")]
    private static partial Regex TimeOfDay();

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
