using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.User;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Telemetry;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// One standing per job and day: /health/ready, the alerts and the console's card and run page say the same of a day,
/// a fresh install owes nothing before its first fire while it runs, and health logs a change of state once.
/// The server's clock is pinned in Seoul on 2025-08-10, whose fire is at 03:00 and deadline at 06:00.
/// </summary>
public sealed partial class StandingTests
{
    private static readonly TimeZoneInfo Seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
    private static readonly DateOnly Day = TestCalendar.Seoul.DayOf(CoreServerApp.DefaultNow);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private sealed record Check(string Status, string? Description, Dictionary<string, JsonElement>? Data);
    private sealed record Health(string Status, Dictionary<string, Check> Checks);

    internal static DateTimeOffset InSeoul(DateOnly day, int hour, int minute = 0) =>
        new(day.ToDateTime(new TimeOnly(hour, minute)), TimeSpan.FromHours(9));

    private static async Task<Health> ReadyAsync(HttpClient client)
    {
        var response = await client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<Health>(JsonSerializerOptions.Web))!;
    }

    /// <summary>What a job's overview card shows: its pill's text and class, and the alert texts on it.</summary>
    internal static async Task<(string Pill, string PillClass, List<string> Alerts)> CardAsync(HttpClient client, string job)
    {
        var html = await client.GetStringAsync("/internal/console");
        var card = Regex.Match(html, $"""<section class="card job" data-job="{job}">(.*?)</section>""", RegexOptions.Singleline);
        Assert.True(card.Success, html);
        return PillAndAlerts(card.Groups[1].Value);
    }

    internal static (string Pill, string PillClass, List<string> Alerts) PillAndAlerts(string html)
    {
        var pill = Regex.Match(html, """<span class="pill ([a-z]+)" data-field="standing">([^<]*)</span>""");
        Assert.True(pill.Success, html);
        var alerts = Regex.Matches(html, """data-field="alert">([^<]*)</p>""").Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).ToList();
        return (WebUtility.HtmlDecode(pill.Groups[2].Value), pill.Groups[1].Value, alerts);
    }

    private static async Task<List<DeadlineAlert>> AlertsAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        return await db.DeadlineAlerts.AsNoTracking().OrderBy(a => a.Id).ToListAsync();
    }

    private static string SummaryOf(DeadlineAlert alert) =>
        JsonDocument.Parse(alert.Payload).RootElement.GetProperty("summary").GetString()!;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Ready_the_alert_and_the_card_agree_on_a_day_below_its_success_ratio_and_again_once_it_is_retried(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["AssetRefresh:Enabled"] = "true" });
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(8, Day.AddDays(-1), 10_000_000);
        app.Extension.Inject(Fault.BadRequest, users[3]);
        var watch = app.Services.GetServices<IHostedService>().OfType<DailyJobWatch>().Single();

        // 09:00, past the deadline: the day goes through with one user of eight failed, 87.50% done, below 99.90%.
        var result = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.CompletedWithFailures, 1), (result.Status, result.Failed));
        await watch.RefreshAsync(CancellationToken.None);

        var check = (await ReadyAsync(client)).Checks[AssetRefreshJob.Name];
        var alert = Assert.Single(await AlertsAsync(database), a => a.Condition == DeadlineCondition.LowSuccessRatio);
        var card = await CardAsync(client, AssetRefreshJob.Name);

        Assert.Equal(("Degraded", "through_below_success_ratio"), (check.Status, check.Data!["todayStanding"].GetString()));
        Assert.Matches(@"^2025-08-10 is through with too many users failed: 2025-08-10 has 87\.50\s?% done \(1 of 8 failed\)", check.Description);
        Assert.Equal((DeadlineCondition.LowSuccessRatio, AlertKind.Raised), (alert.Condition, alert.Kind));
        var summary = SummaryOf(alert);
        Assert.Matches(@"^asset-refresh for 2025-08-10 went through with 87\.50\s?% of its users done \(1 of 8 failed\), below AssetRefresh:MinSuccessRatio 99\.90\s?%\.$",
            summary);
        Assert.Equal(("through, below success ratio", "warn"), (card.Pill, card.PillClass));
        Assert.Equal([summary], card.Alerts);
        var runPage = PillAndAlerts(await client.GetStringAsync($"/internal/console/runs/{result.RunId}"));
        Assert.Equal((card.Pill, card.PillClass), (runPage.Pill, runPage.PillClass));
        Assert.Equal([summary], runPage.Alerts);

        // The failed user is retried: health, the alert and the card turn together.
        app.Extension.ClearFaults();
        Assert.Equal(BatchRunStatus.Completed, (await client.RunDayAsync(Day)).Status);
        await watch.RefreshAsync(CancellationToken.None);

        var healthy = (await ReadyAsync(client)).Checks[AssetRefreshJob.Name];
        Assert.Equal(("Healthy", "through"), (healthy.Status, healthy.Data!["todayStanding"].GetString()));
        Assert.Equal([AlertKind.Raised, AlertKind.Resolved],
            (await AlertsAsync(database)).Where(a => a.Condition == DeadlineCondition.LowSuccessRatio).Select(a => a.Kind));
        var after = await CardAsync(client, AssetRefreshJob.Name);
        Assert.Equal(("through", "ok"), (after.Pill, after.PillClass));
        Assert.Empty(after.Alerts);
    }

    [Fact]
    public async Task Probes_of_a_degraded_check_log_its_change_of_state_once_not_once_per_probe()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:Enabled"] = "true",
            ["Logging:LogLevel:DontGoBack.CoreServer.Hosting"] = "Information",
        });
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(4, Day.AddDays(-1), 10_000_000);
        // The day goes through with one user of four failed: below its success ratio, the job's check is Degraded.
        app.Extension.Inject(Fault.BadRequest, users[0]);
        Assert.Equal(BatchRunStatus.CompletedWithFailures, (await client.RunDayAsync(Day)).Status);
        List<string> HealthLines() => app.Logs.Entries.Where(e => e.Message.StartsWith("Health check asset-refresh ", StringComparison.Ordinal))
            .Select(e => $"{e.Level}: {e.Message}").ToList();

        const int Probes = 12;
        var degraded = 0;
        for (var i = 0; i < Probes; i++)
            degraded += (await ReadyAsync(client)).Checks[AssetRefreshJob.Name].Status == "Degraded" ? 1 : 0;

        Assert.Equal(Probes, degraded);
        var line = Assert.Single(HealthLines());
        Assert.StartsWith($"{LogLevel.Warning}: Health check asset-refresh is Degraded (was Healthy): 2025-08-10 is through with too many users failed", line);

        // Once the failed user is retried, the next probes log the recovery once.
        app.Extension.ClearFaults();
        Assert.Equal(BatchRunStatus.Completed, (await client.RunDayAsync(Day)).Status);
        var healthy = 0;
        for (var i = 0; i < Probes; i++)
            healthy += (await ReadyAsync(client)).Checks[AssetRefreshJob.Name].Status == "Healthy" ? 1 : 0;

        Assert.Equal(Probes, healthy);
        Assert.Equal(2, HealthLines().Count);
        Assert.StartsWith($"{LogLevel.Information}: Health check asset-refresh is Healthy again (was Degraded)", HealthLines()[1]);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_fresh_install_started_after_todays_fire_owes_no_day_raises_no_alert_and_logs_nothing_contradictory(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:Enabled"] = "true",
            ["UserDormancy:Enabled"] = "true",
            ["Logging:LogLevel:DontGoBack"] = "Information",
        });
        // 10:00 in Seoul: after today's fires (dormancy 02:00, asset refresh 03:00) and the 06:00 deadline; the database is empty.
        app.Time.Now = InSeoul(Day, 10).ToUniversalTime();
        var client = app.CreateClient();
        await app.AddActiveUsersAsync(2, Day.AddDays(-1), 10_000_000);

        // The start-up catch-up has asked each job what it owes, and the watch has read each standing.
        await app.Logs.WaitForAsync(e => e.Message == "Asset refresh: no day owed, every due day went through", Patience);
        await app.Logs.WaitForAsync(e => e.Message == "User dormancy: no day owed, every due day went through", Patience);
        var watch = app.Services.GetServices<IHostedService>().OfType<DailyJobWatch>().Single();
        await watch.RefreshAsync(CancellationToken.None);
        var health = await ReadyAsync(client);

        Assert.Equal("Healthy", health.Status);
        foreach (var job in new[] { AssetRefreshJob.Name, UserDormancyJob.Name })
        {
            Assert.Equal("On schedule; no day has gone through yet.", health.Checks[job].Description);
            Assert.Equal((0, "not_due"), (health.Checks[job].Data!["daysBehind"].GetInt32(), health.Checks[job].Data!["todayStanding"].GetString()));
            var card = await CardAsync(client, job);
            Assert.Equal(("not due", "none"), (card.Pill, card.PillClass));
            Assert.Empty(card.Alerts);
        }
        Assert.Empty(await AlertsAsync(database));
        Assert.DoesNotContain(app.Logs.Entries, e => e.Level >= LogLevel.Warning && e.Category.StartsWith("DontGoBack", StringComparison.Ordinal));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var due = await scope.ServiceProvider.GetRequiredService<DueDays>().FindAsync(AssetRefreshJob.Name, "0 0 3 * * ?", null, CancellationToken.None);
            Assert.Equal((0, 0), (due.ToRun.Count, due.TooOld.Count));
        }

        // Its first fire while it runs is owed: tomorrow, unrun past its deadline (the schedule is paused, so no run starts), is late
        // everywhere at once.
        var paused = await client.PostAsJsonAsync($"/internal/batch/{AssetRefreshJob.Name}/schedule/pause", new { reason = "hold the day" });
        Assert.Equal(HttpStatusCode.OK, paused.StatusCode);
        app.Time.Now = InSeoul(Day.AddDays(1), 7).ToUniversalTime();
        await watch.RefreshAsync(CancellationToken.None);
        var late = (await ReadyAsync(client)).Checks[AssetRefreshJob.Name];
        var overdue = Assert.Single(await AlertsAsync(database), a => a.JobName == AssetRefreshJob.Name);

        Assert.Equal(("Degraded", "2025-08-11 is past the deadline (AssetRefresh:CompleteBy 06:00 in Asia/Seoul) and not through."),
            (late.Status, late.Description));
        Assert.Equal((new DateOnly(2025, 8, 11), DeadlineCondition.Overdue), (overdue.Day, overdue.Condition));
        var lateCard = await CardAsync(client, AssetRefreshJob.Name);
        Assert.Equal(("late", "bad"), (lateCard.Pill, lateCard.PillClass));
        Assert.Equal([SummaryOf(overdue)], lateCard.Alerts);
    }
}

/// <summary>A day below its success ratio in a real browser: the card is not green and shows the alert's text, and so does the run page.</summary>
[Collection(ConsoleBrowserCollection.Name)]
public sealed class StandingConsoleTests(ConsoleBrowser browser)
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_day_below_its_success_ratio_is_not_green_and_its_alert_shows_on_the_card_and_the_run_page(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["AssetRefresh:Enabled"] = "true" });
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server };
        var users = await app.AddActiveUsersAsync(8, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.BadRequest, users[5]);
        var result = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.CompletedWithFailures, 1), (result.Status, result.Failed));
        // The watch raises the alert as it would at its next round.
        await app.Services.GetServices<IHostedService>().OfType<DailyJobWatch>().Single().RefreshAsync(CancellationToken.None);
        await using var db = database.CreateContext();
        var raised = await db.DeadlineAlerts.AsNoTracking().SingleAsync(a => a.Condition == DeadlineCondition.LowSuccessRatio);
        var alert = System.Text.Json.JsonDocument.Parse(raised.Payload).RootElement.GetProperty("summary").GetString()!;
        Assert.Matches(@"^asset-refresh for 2025-08-10 went through with 87\.50\s?% of its users done \(1 of 8 failed\)", alert);

        var page = await browser.OpenAsync(server);
        await page.GotoAsync("internal/console");
        var card = page.Locator("[data-job=asset-refresh]");
        var pill = card.Locator("[data-field=standing]");

        Assert.Equal("completed_with_failures", await card.Locator("[data-field=status]").TextContentAsync());
        Assert.Equal("through, below success ratio", await pill.TextContentAsync());
        Assert.DoesNotContain("ok", (await pill.GetAttributeAsync("class"))!.Split(' '));
        Assert.Equal("rgb(253, 240, 213)", await pill.EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor"));
        Assert.Equal([alert], (await card.Locator("[data-field=alert]").AllTextContentsAsync()).Select(t => t.Trim()));
        await ConsoleBrowser.ScreenshotAsync(page, $"overview-below-success-ratio-{provider}");

        await page.GotoAsync($"internal/console/runs/{result.RunId}");
        Assert.Equal("through, below success ratio", await page.Locator("h1 [data-field=standing]").TextContentAsync());
        Assert.Equal([alert], (await page.Locator("[data-field=alert]").AllTextContentsAsync()).Select(t => t.Trim()));
        await ConsoleBrowser.ScreenshotAsync(page, $"run-below-success-ratio-{provider}");
    }
}
