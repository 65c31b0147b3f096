using System.Diagnostics.Metrics;
using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using static DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// Deadline alerts on a whole server whose clock starts at 09:00 in Seoul on 2025-08-10, three hours
/// past that day's 06:00 deadline, with a real webhook receiver on loopback.
/// </summary>
public sealed class DeadlineAlertTests
{
    private static readonly DateOnly Day = TestCalendar.Seoul.DayOf(CoreServerApp.DefaultNow);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static Dictionary<string, string?> Settings(FakeWebhook? webhook, params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["AssetRefresh:Enabled"] = "true",
            ["Alerts:FirstRetryDelay"] = "00:00:00.050",
            ["Alerts:PollInterval"] = "00:00:00.100",
            ["Alerts:Timeout"] = "00:00:05",
        };
        if (webhook is not null)
            settings["Alerts:WebhookUrl"] = webhook.Url;
        foreach (var (key, value) in more)
            settings[key] = value;
        return settings;
    }

    private sealed record Check(string Status, string? Description);
    private sealed record Health(string Status, Dictionary<string, Check> Checks);

    private static async Task<Check> RefreshCheckAsync(HttpClient client) =>
        (await client.GetFromJsonAsync<Health>("/health/ready"))!.Checks[AssetRefreshJob.Name];

    private static (string Kind, string Condition) KindAndCondition(JsonElement body) =>
        (body.GetProperty("kind").GetString()!, body.GetProperty("condition").GetString()!);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_overdue_day_alerts_once_then_resolves_and_a_low_success_ratio_alerts_until_retried(DatabaseProvider provider)
    {
        await using var webhook = await FakeWebhook.StartAsync();
        // The receiver is down for the first call: delivery tries again.
        webhook.Behaviour = (no, http) =>
        {
            http.Response.StatusCode = no == 1 ? StatusCodes.Status500InternalServerError : StatusCodes.Status200OK;
            return Task.CompletedTask;
        };
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings(webhook));
        // Retry waits are measured on the server's clock: let it tick.
        app.Time.StartTicking();
        // The server starts at 02:00, before the day's fire (so the fire is owed) and the deadline, so the metric is watched from
        // before the first alert; its schedule is paused, so nobody runs the day.
        var client = await app.StartOwingTodayAsync(now: CoreServerApp.DefaultNow - TimeSpan.FromHours(7));
        var meters = app.Services.GetRequiredService<IMeterFactory>();
        using var alertsMade = new MetricCollector<long>(meters, BatchMetrics.MeterName, BatchMetrics.Alerts);
        var users = await app.AddActiveUsersAsync(3, Day.AddDays(-1), 10_000_000);
        var watch = app.Services.GetServices<IHostedService>().OfType<DailyJobWatch>().Single();
        await watch.RefreshAsync(CancellationToken.None);
        await using (var before = database.CreateContext())
            Assert.Equal(0, await before.DeadlineAlerts.CountAsync());

        // 09:00: no run at all by the 06:00 deadline.
        app.Time.Now = CoreServerApp.DefaultNow;
        await watch.RefreshAsync(CancellationToken.None);
        await webhook.WaitForCallsAsync(2, Patience);
        var (failedCall, overdue) = (webhook.Calls[0], webhook.Calls[1]);
        Assert.Equal((500, 200), (failedCall.AnsweredWith, overdue.AnsweredWith));
        Assert.Equal(failedCall.IdempotencyKey, overdue.IdempotencyKey);
        Assert.NotNull(overdue.IdempotencyKey);
        var raised = overdue.Body;
        Assert.Equal(("raised", "overdue"), KindAndCondition(raised));
        Assert.Equal((AssetRefreshJob.Name, "2025-08-10", "not_started"),
            (raised.GetProperty("job").GetString(), raised.GetProperty("day").GetString(), raised.GetProperty("status").GetString()));
        Assert.Equal(new DateTimeOffset(2025, 8, 10, 6, 0, 0, TimeSpan.FromHours(9)), raised.GetProperty("deadline").GetDateTimeOffset());
        Assert.Equal("asset-refresh for 2025-08-10 is not through by its deadline 06:00 (Asia/Seoul): no run has started.",
            raised.GetProperty("summary").GetString());
        Assert.Contains(app.Logs.Entries, e => e.Level == LogLevel.Error && e.Message.StartsWith("Alert raised: asset-refresh 2025-08-10 overdue."));
        Assert.Equal("Degraded", (await RefreshCheckAsync(client)).Status);

        // The day goes through with one user of three failed: overdue resolves, the success ratio alerts.
        app.Extension.Inject(Fault.BadRequest, users[1]);
        var result = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.CompletedWithFailures, 1), (result.Status, result.Failed));
        await watch.RefreshAsync(CancellationToken.None);
        await webhook.WaitForCallsAsync(4, Patience);
        Assert.Equal([("raised", "low_success_ratio"), ("resolved", "overdue")], webhook.Calls.Skip(2).Select(c => KindAndCondition(c.Body)).Order());
        var low = webhook.Calls.Skip(2).Single(c => KindAndCondition(c.Body) == ("raised", "low_success_ratio")).Body;
        Assert.Equal(("completed_with_failures", 1, 3, 0.666667),
            (low.GetProperty("status").GetString(), low.GetProperty("counts").GetProperty("failed").GetInt32(),
             low.GetProperty("counts").GetProperty("seen").GetInt32(), low.GetProperty("doneRatio").GetDouble()));
        var lowCheck = await RefreshCheckAsync(client);
        Assert.Equal("Degraded", lowCheck.Status);
        Assert.Contains("through with too many users failed", lowCheck.Description);

        // The failed user is retried: the ratio alert resolves.
        app.Extension.ClearFaults();
        Assert.Equal((BatchRunStatus.Completed, 0), ((await client.RunDayAsync(Day)) is var again ? (again.Status, again.Failed) : default));
        await watch.RefreshAsync(CancellationToken.None);
        await webhook.WaitForCallsAsync(5, Patience);
        Assert.Equal(("resolved", "low_success_ratio"), KindAndCondition(webhook.Calls[4].Body));
        Assert.Equal("Healthy", (await RefreshCheckAsync(client)).Status);

        // Further reviews and deliveries find nothing new to say: each message went out once.
        await watch.RefreshAsync(CancellationToken.None);
        await watch.RefreshAsync(CancellationToken.None);
        await using var db = database.CreateContext();
        // The receiver has the last message before its sender hears the 2xx and marks it sent.
        List<DeadlineAlert> rows = [];
        await Eventually.UntilAsync(async () =>
        {
            rows = await db.DeadlineAlerts.AsNoTracking().OrderBy(a => a.Id).ToListAsync();
            return rows.All(row => row.Delivery == AlertDelivery.Sent);
        }, Patience);
        Assert.Equal(4, rows.Count);
        var sender = app.Services.GetServices<IHostedService>().OfType<AlertWebhookSender>().Single();
        Assert.False(await sender.DeliverNextAsync(CancellationToken.None));
        Assert.Equal(5, webhook.Calls.Count);
        Assert.Equal(4, webhook.Received.Count);
        Assert.Equal(2, rows[0].Attempts);
        var made = alertsMade.GetMeasurementSnapshot();
        Assert.Equal(2, made.Where(m => (string?)m.Tags[BatchMetrics.AlertKindTag] == "raised").Sum(m => m.Value));
        Assert.Equal(2, made.Where(m => (string?)m.Tags[BatchMetrics.AlertKindTag] == "resolved").Sum(m => m.Value));
    }

    [Fact]
    public async Task A_receiver_that_hangs_redirects_and_fails_gets_the_configured_calls_and_the_alert_is_given_up()
    {
        await using var webhook = await FakeWebhook.StartAsync();
        webhook.Behaviour = (no, http) =>
        {
            switch (no)
            {
                case 1:
                    return FakeWebhook.Hang(http);
                case 2:
                    http.Response.Redirect("http://127.0.0.1:9/elsewhere");
                    return Task.CompletedTask;
                default:
                    http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    return Task.CompletedTask;
            }
        };
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, Settings(webhook, ("Alerts:MaxAttempts", "3"), ("Alerts:Timeout", "00:00:00.500"),
            ("Batch:WatchInterval", "00:00:00.200")));
        app.Time.StartTicking();
        await app.StartOwingTodayAsync();

        await app.Logs.WaitForAsync(e => e.Level == LogLevel.Error && e.Message.Contains("given up after 3 calls"), Patience);

        Assert.Equal([0, 302, 503], webhook.Calls.Select(c => c.AnsweredWith));
        await using var db = database.CreateContext();
        var alert = await db.DeadlineAlerts.AsNoTracking().SingleAsync();
        Assert.Equal((AlertDelivery.GaveUp, 3), (alert.Delivery, alert.Attempts));
        Assert.Equal("the webhook answered 503 Service Unavailable", alert.LastError);
        Assert.Contains(app.Logs.Entries, e => e.Message.Contains("did not answer within Alerts:Timeout"));
        // Given up means no further call, however often delivery looks.
        var sender = app.Services.GetServices<IHostedService>().OfType<AlertWebhookSender>().Single();
        Assert.False(await sender.DeliverNextAsync(CancellationToken.None));
        Assert.Equal(3, webhook.Calls.Count);
    }

    [Fact]
    public async Task Without_a_webhook_an_alert_is_logged_and_recorded_only()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, Settings(webhook: null, ("Batch:WatchInterval", "00:00:00.200")));
        await app.StartOwingTodayAsync();

        await app.Logs.WaitForAsync(e => e.Level == LogLevel.Error && e.Message.StartsWith("Alert raised: asset-refresh 2025-08-10 overdue."), Patience);

        await using var db = database.CreateContext();
        var alert = await db.DeadlineAlerts.AsNoTracking().SingleAsync();
        Assert.Equal((AlertKind.Raised, AlertDelivery.NoWebhook, 0), (alert.Kind, alert.Delivery, alert.Attempts));
    }
}
