using DontGoBack.CoreServer.Batch.Asset;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Telemetry;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Quartz;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class HealthTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private static readonly TimeZoneInfo Seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
    private static readonly Dictionary<string, string?> ScheduleOn = new() { ["AssetRefresh:Enabled"] = "true" };

    private sealed record Check(string Status, string? Description, Dictionary<string, JsonElement>? Data);
    private sealed record Health(string Status, Dictionary<string, Check> Checks);

    private static async Task<(HttpStatusCode Code, Health Body)> ReadyAsync(HttpClient client)
    {
        var response = await client.GetAsync("/health/ready");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return (response.StatusCode, JsonSerializer.Deserialize<Health>(await response.Content.ReadAsStringAsync(), JsonSerializerOptions.Web)!);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Ready_is_degraded_while_today_is_past_its_deadline_and_healthy_once_it_went_through(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        // 09:00 in Seoul: past the 06:00 deadline of 2025-08-10, whose 03:00 fire came while the server ran, and which has not run.
        await using var app = new CoreServerApp(database, ScheduleOn);
        var client = await app.StartOwingTodayAsync();
        await app.AddActiveUsersAsync(3, Day.AddDays(-1), 10_000_000);

        var (code, before) = await ReadyAsync(client);

        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("Degraded", before.Status);
        // Every daily job has its own check; dormancy's schedule is off here, so it stays Healthy.
        Assert.Equal(["asset-refresh", "database", "history-maintenance", "scheduler", "user-dormancy"], before.Checks.Keys.Order());
        Assert.Equal("Degraded", before.Checks["asset-refresh"].Status);
        Assert.Contains("2025-08-10 is past the deadline (AssetRefresh:CompleteBy 06:00 in Asia/Seoul)", before.Checks["asset-refresh"].Description);
        Assert.Equal(("Healthy", "Healthy"), (before.Checks["database"].Status, before.Checks["scheduler"].Status));

        await client.RunDayAsync(Day);
        var (codeAfter, after) = await ReadyAsync(client);

        Assert.Equal(HttpStatusCode.OK, codeAfter);
        Assert.Equal("Healthy", after.Status);
        Assert.All(after.Checks.Values, check => Assert.Equal("Healthy", check.Status));
        Assert.Contains("2025-08-10", after.Checks["asset-refresh"].Description);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_manual_run_of_a_day_long_past_on_a_fresh_install_owes_nothing_after_it(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        // 09:00 in Seoul on 2025-08-10: today is past its 06:00 deadline; the job has never run here.
        await using var app = new CoreServerApp(database, ScheduleOn);
        var client = app.CreateClient();
        var longAgo = Day.AddDays(-400);
        await app.AddActiveUsersAsync(2, longAgo.AddDays(-1), 10_000_000);

        Assert.Equal(BatchRunStatus.Completed, (await client.RunDayAsync(longAgo)).Status);
        var (code, health) = await ReadyAsync(client);

        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("Healthy", health.Status);
        // No day is behind: the schedule owes the fires that come while it is kept (from tomorrow's), not the days since the one run by hand,
        // nor today, whose fire came before the server started.
        var refresh = health.Checks["asset-refresh"];
        Assert.Equal(("Healthy", $"On schedule; the latest day through is {longAgo:yyyy-MM-dd}."), (refresh.Status, refresh.Description));
        Assert.Equal(0, refresh.Data!["daysBehind"].GetInt32());
        // And the schedule runs no day in between.
        await using var scope = app.Services.CreateAsyncScope();
        var due = await scope.ServiceProvider.GetRequiredService<DueDays>().FindAsync(AssetRefreshJob.Name, "0 0 3 * * ?", null, CancellationToken.None);
        Assert.Empty(due.ToRun);
        Assert.Empty(due.TooOld);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Ready_writes_times_with_a_plain_plus_and_no_day_through_as_null_on_a_fresh_install(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, ScheduleOn);

        var body = await app.CreateClient().GetStringAsync("/health/ready");

        // Today's deadline, 06:00 in Seoul, as any JSON reader and a person at a terminal read it.
        Assert.Contains("\"deadline\":\"2025-08-10T06:00:00.0000000+09:00\"", body);
        Assert.DoesNotContain("\\u002B", body);
        Assert.Contains("\"lastDayThrough\":null", body);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_job_far_behind_its_schedule_is_degraded_and_alerted_while_ready_stays_200(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, ScheduleOn);
        var client = app.CreateClient();
        await app.AddActiveUsersAsync(2, Day.AddDays(-11), 10_000_000);
        // The schedule ran ten days ago, on its day, and never since: seven days are caught up at most, so two are beyond it.
        app.Time.Now = InSeoul(Day.AddDays(-10), 3, 0, 5).ToUniversalTime();
        Assert.Equal(BatchRunStatus.Completed, (await client.RunDayAsync(Day.AddDays(-10))).Status);
        app.Time.Now = CoreServerApp.DefaultNow;
        var watch = app.Services.GetServices<IHostedService>().OfType<DailyJobWatch>().Single();

        await watch.RefreshAsync(CancellationToken.None);
        var (code, health) = await ReadyAsync(client);

        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("Degraded", health.Status);
        var refresh = health.Checks["asset-refresh"];
        Assert.Equal("Degraded", refresh.Status);
        Assert.StartsWith("2 owed days from 2025-08-01 to 2025-08-02 are older than Batch:MaxCatchUpDays (7)", refresh.Description);
        Assert.Equal((10, 2), (refresh.Data!["daysBehind"].GetInt32(), refresh.Data["skippedDays"].GetInt32()));
        // The lateness is alerted: one overdue alert per day the schedule still runs, today's among them.
        await using var db = database.CreateContext();
        var alerted = await db.DeadlineAlerts.AsNoTracking()
            .Where(a => a.JobName == AssetRefreshJob.Name && a.Kind == AlertKind.Raised && a.Condition == DeadlineCondition.Overdue)
            .Select(a => a.Day).ToListAsync();
        Assert.Equal(Enumerable.Range(0, 8).Select(n => Day.AddDays(-7 + n)), alerted.Order());
    }

    [Fact]
    public async Task A_database_that_refuses_connections_makes_ready_unhealthy_while_live_answers()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
        var name = new NpgsqlConnectionStringBuilder(database.ConnectionString).Database!;
        await using (var admin = new NpgsqlConnection(TestDatabase.AdminConnectionString()))
        {
            await admin.OpenAsync();
            // Names are identifiers, not values: the test database's own generated name.
            await new NpgsqlCommand($"ALTER DATABASE {name} ALLOW_CONNECTIONS false", admin).ExecuteNonQueryAsync();
            await new NpgsqlCommand($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'", admin).ExecuteNonQueryAsync();
        }
        try
        {
            var (code, health) = await ReadyAsync(client);
            var live = await client.GetAsync("/health/live");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
            Assert.Equal("Unhealthy", health.Status);
            Assert.Equal("Unhealthy", health.Checks["database"].Status);
            Assert.StartsWith("Unreachable: database", health.Checks["database"].Description);
            Assert.Equal("Healthy", health.Checks["scheduler"].Status);
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }
        finally
        {
            await using var admin = new NpgsqlConnection(TestDatabase.AdminConnectionString());
            await admin.OpenAsync();
            await new NpgsqlCommand($"ALTER DATABASE {name} ALLOW_CONNECTIONS true", admin).ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task A_migration_not_applied_makes_ready_unhealthy_naming_it()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        string last;
        await using (var db = database.CreateContext())
        {
            last = (await db.Database.GetAppliedMigrationsAsync()).Last();
            await db.Database.ExecuteSqlAsync($"DELETE FROM __EFMigrationsHistory WHERE migration_id = {last}");
        }

        var (code, health) = await ReadyAsync(client);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
        Assert.Equal("Unhealthy", health.Checks["database"].Status);
        Assert.Equal($"Reachable, but 1 migrations are not applied: {last}.", health.Checks["database"].Description);
    }

    [Fact]
    public async Task A_scheduler_in_standby_makes_ready_unhealthy()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        await Eventually.UntilAsync(async () => await scheduler.GetStatus() == SchedulerStatus.Running, TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);

        await scheduler.Standby();
        var (code, health) = await ReadyAsync(client);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
        Assert.Equal(("Unhealthy", "The scheduler is in standby: no trigger fires."),
            (health.Checks["scheduler"].Status, health.Checks["scheduler"].Description));
    }

    [Fact]
    public async Task A_clustered_node_that_stopped_checking_in_is_unhealthy()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Batch:Clustered"] = "true",
            // Long enough that Quartz's next check-in does not come while the test moves the clock.
            ["Batch:ClusterCheckinInterval"] = "00:10:00",
        });
        var client = app.CreateClient();
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        await Eventually.UntilAsync(async () => (await scheduler.QueryClusterNodes()).Single(n => n.IsCurrentNode).LastCheckInUtc is not null,
            TimeSpan.FromSeconds(20));
        var (fresh, healthy) = await ReadyAsync(client);
        Assert.Equal(HttpStatusCode.OK, fresh);
        Assert.Equal("Healthy", healthy.Checks["cluster-node"].Status);

        // Past one interval without a check-in, on the server's clock, Quartz calls the node overdue;
        // past three, the others take it for dead.
        app.Time.Now += TimeSpan.FromMinutes(11);
        var (lateCode, late) = await ReadyAsync(client);
        Assert.Equal((HttpStatusCode.OK, "Degraded"), (lateCode, late.Checks["cluster-node"].Status));
        app.Time.Now += TimeSpan.FromMinutes(20);
        var (code, health) = await ReadyAsync(client);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
        Assert.Equal("Unhealthy", health.Checks["cluster-node"].Status);
        Assert.Contains("take it for dead", health.Checks["cluster-node"].Description);
    }

    // The deadline and skipped days on a FakeTimeProvider: the check and its reader on a migrated database.
    private sealed class ScheduleFixture : IAsyncDisposable
    {
        private readonly TestDatabase _database;
        private readonly CoreServerApp _app;
        private readonly DontGoBackDbContext _db;
        private readonly ServiceProvider _meters = new ServiceCollection().AddMetrics().BuildServiceProvider();

        private ScheduleFixture(TestDatabase database, CoreServerApp app, DontGoBackDbContext db, FakeTimeProvider time, string cron)
        {
            (_database, _app, _db, Time) = (database, app, db, time);
            var batch = Options.Create(new BatchOptions { MaxCatchUpDays = 7 });
            Meters = _meters.GetRequiredService<IMeterFactory>();
            Metrics = new BatchMetrics(Meters, time);
            Ledger = new BatchRunLedger(app.Services.GetRequiredService<IDbContextFactory<BatchEngineDbContext>>(), batch,
                new DatabaseRetry(Options.Create(new DatabaseOptions()), time, NullLogger<DatabaseRetry>.Instance), new RunRecorded(), time);
            var job = new DailyJobSchedule<AssetRefreshJob>(AssetRefreshJob.Definition,
                () => new AssetRefreshOptions { Cron = cron, CompleteBy = new TimeOnly(6, 0) });
            var calendar = new BatchCalendar(time, Options.Create(new BatchOptions { MaxCatchUpDays = 7, TimeZone = Seoul.Id }));
            Schedule = job.Describe(calendar);
            Reader = new ScheduleStandingReader(new DueDays(Ledger, calendar, batch, time), Ledger, batch, time);
            Check = new DailyJobHealthCheck(job, calendar, Reader, batch);
        }

        public FakeTimeProvider Time { get; }
        public IMeterFactory Meters { get; }
        public BatchMetrics Metrics { get; }
        public DailySchedule Schedule { get; }
        public ScheduleStandingReader Reader { get; }
        public BatchRunLedger Ledger { get; }
        public DailyJobHealthCheck Check { get; }

        public static async Task<ScheduleFixture> CreateAsync(DateTimeOffset now, string cron = "0 0 3 * * ?")
        {
            var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
            var app = new CoreServerApp(database);
            app.CreateClient();
            return new ScheduleFixture(database, app, database.CreateContext(), new FakeTimeProvider(now), cron);
        }

        public async Task RunThroughAsync(DateOnly day)
        {
            var claim = await Ledger.TryClaimAsync(AssetRefreshJob.Name, day, rerunCompleted: true, CancellationToken.None);
            await Ledger.FinishAsync(claim!, new BatchResult(day, BatchRunStatus.Completed, 1, 1, 0, 0, 10), CancellationToken.None);
        }

        public async Task<HealthCheckResult> CheckAsync() => await Check.CheckHealthAsync(new HealthCheckContext
        {
            Registration = new HealthCheckRegistration(AssetRefreshJob.Name, Check, HealthStatus.Unhealthy, null),
        }, CancellationToken.None);

        public async ValueTask DisposeAsync()
        {
            await _db.DisposeAsync();
            await _app.DisposeAsync();
            await _database.DisposeAsync();
            await _meters.DisposeAsync();
        }
    }

    private static DateTimeOffset InSeoul(DateOnly day, int hour, int minute = 0, int second = 0) =>
        new(day.ToDateTime(new TimeOnly(hour, minute, second)), TimeSpan.FromHours(9));

    [Fact]
    public async Task The_day_turns_degraded_at_its_deadline_and_healthy_once_through()
    {
        await using var fixture = await ScheduleFixture.CreateAsync(InSeoul(Day.AddDays(-1), 4));
        await fixture.RunThroughAsync(Day.AddDays(-1));
        fixture.Time.SetUtcNow(InSeoul(Day, 5, 59, 59));

        var beforeDeadline = await fixture.CheckAsync();
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        var atDeadline = await fixture.CheckAsync();
        await fixture.RunThroughAsync(Day);
        var through = await fixture.CheckAsync();

        Assert.Equal(HealthStatus.Healthy, beforeDeadline.Status);
        Assert.Equal(0, beforeDeadline.Data["daysBehind"]);
        Assert.Equal(HealthStatus.Degraded, atDeadline.Status);
        Assert.Equal("2025-08-10 is past the deadline (AssetRefresh:CompleteBy 06:00 in Asia/Seoul) and not through.", atDeadline.Description);
        Assert.Equal(1, atDeadline.Data["daysBehind"]);
        Assert.Equal(HealthStatus.Healthy, through.Status);
        Assert.Equal("2025-08-10", through.Data["lastDayThrough"]);
    }

    [Fact]
    public async Task A_fresh_install_whose_scheduler_never_ran_is_degraded_after_the_deadline_of_its_first_fire()
    {
        // Up at 02:00: the 03:00 fire is the first it keeps.
        await using var fixture = await ScheduleFixture.CreateAsync(InSeoul(Day, 2));
        fixture.Time.SetUtcNow(InSeoul(Day, 6, 30));

        var result = await fixture.CheckAsync();

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("2025-08-10 is past the deadline", result.Description);
    }

    [Fact]
    public async Task A_day_the_cron_does_not_fire_on_is_never_overdue()
    {
        // 2025-08-09 is a Saturday; the cron fires on weekdays only.
        var saturday = new DateOnly(2025, 8, 9);
        await using var fixture = await ScheduleFixture.CreateAsync(InSeoul(saturday.AddDays(-1), 4), cron: "0 0 3 ? * MON-FRI");
        await fixture.RunThroughAsync(saturday.AddDays(-1));
        fixture.Time.SetUtcNow(InSeoul(saturday, 23));

        Assert.Equal(HealthStatus.Healthy, (await fixture.CheckAsync()).Status);
    }

    [Fact]
    public async Task Days_older_than_the_catch_up_window_make_the_job_degraded_and_the_gauges_count_them()
    {
        // The job first ran ten days ago and never since: seven days are caught up at most, so two are skipped.
        await using var fixture = await ScheduleFixture.CreateAsync(InSeoul(Day.AddDays(-10), 4));
        await fixture.RunThroughAsync(Day.AddDays(-10));
        var lastThroughAt = fixture.Time.GetUtcNow();
        fixture.Time.SetUtcNow(InSeoul(Day, 7));

        var result = await fixture.CheckAsync();

        // Lateness is for alerts and the gauges, never a readiness failure.
        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.StartsWith("2 owed days from 2025-08-01 to 2025-08-02 are older than Batch:MaxCatchUpDays (7)", result.Description);
        Assert.Equal(10, result.Data["daysBehind"]);

        // The watch hands the same standing to the gauges, which answer from it without a query.
        using var behind = new MetricCollector<int>(fixture.Meters, BatchMetrics.MeterName, BatchMetrics.Overdue);
        using var since = new MetricCollector<double>(fixture.Meters, BatchMetrics.MeterName, BatchMetrics.SinceLastThrough);
        var standing = await fixture.Reader.ReadAsync(fixture.Schedule, CancellationToken.None);
        fixture.Metrics.ReportSchedule(AssetRefreshJob.Name, standing.DaysBehind, standing.LastThrough?.FinishedAt);
        behind.RecordObservableInstruments();
        since.RecordObservableInstruments();
        Assert.Equal(10, behind.LastMeasurement!.Value);
        Assert.Equal((fixture.Time.GetUtcNow() - lastThroughAt).TotalSeconds, since.LastMeasurement!.Value, precision: 3);
    }

    [Fact]
    public async Task The_schedule_watch_feeds_the_gauges_of_a_running_server()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, ScheduleOn);
        var client = await app.StartOwingTodayAsync();
        var meters = app.Services.GetRequiredService<IMeterFactory>();
        using var behind = new MetricCollector<int>(meters, BatchMetrics.MeterName, BatchMetrics.Overdue);
        using var since = new MetricCollector<double>(meters, BatchMetrics.MeterName, BatchMetrics.SinceLastThrough);
        var watch = app.Services.GetServices<IHostedService>().OfType<DailyJobWatch>().Single();
        await app.AddActiveUsersAsync(2, Day.AddDays(-1), 10_000_000);

        await watch.RefreshAsync(CancellationToken.None);
        behind.RecordObservableInstruments();
        Assert.Equal(1, behind.LastMeasurement!.Value);

        await client.RunDayAsync(Day);
        await watch.RefreshAsync(CancellationToken.None);
        app.Time.Now += TimeSpan.FromMinutes(5);
        behind.RecordObservableInstruments();
        since.RecordObservableInstruments();

        Assert.Equal(0, behind.LastMeasurement!.Value);
        Assert.Equal(AssetRefreshJob.Name, behind.LastMeasurement.Tags[BatchMetrics.JobTag]);
        Assert.InRange(since.LastMeasurement!.Value, 300, 360);
    }
}
