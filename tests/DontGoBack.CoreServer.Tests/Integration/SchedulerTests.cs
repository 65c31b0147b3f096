using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Quartz;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class SchedulerTests
{
    [Fact]
    public async Task Daily_trigger_fires_at_03_00_Seoul_and_that_fire_is_the_Seoul_day()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["AssetRefresh:Enabled"] = "true" });
        // Quartz reads the server's clock too, so the trigger starts at this pinned instant.
        app.Time.Now = new DateTimeOffset(2025, 8, 9, 12, 0, 0, TimeSpan.Zero);
        app.CreateClient();
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();

        var trigger = await scheduler.GetTrigger(AssetRefreshJob.Definition.CronKey);

        Assert.NotNull(trigger);
        var fire = trigger.GetFireTimeAfter(new DateTimeOffset(2025, 8, 9, 17, 0, 0, TimeSpan.Zero));
        Assert.Equal(new DateTimeOffset(2025, 8, 9, 18, 0, 0, TimeSpan.Zero), fire);
        Assert.Equal(new DateOnly(2025, 8, 10), TestCalendar.Seoul.DayOf(fire!.Value));
    }

    [Fact]
    public async Task Disabled_scheduler_has_no_trigger_and_runs_nothing()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:Enabled"] = "false",
            ["AssetRefresh:Cron"] = "* * * * * ?",
        });
        app.CreateClient();
        await app.AddUserAsync(AccountStatus.Active);
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();

        Assert.Null(await scheduler.GetTrigger(AssetRefreshJob.Definition.CronKey));
        // Even a fire of the job (as a stale trigger would give it) runs nothing while it is disabled.
        var executions = await JobExecutions.ListenAsync(scheduler, AssetRefreshJob.Definition.FireKey);
        await scheduler.TriggerJob(AssetRefreshJob.Definition.FireKey);
        await executions.WaitForAsync(1, TimeSpan.FromSeconds(30));
        Assert.Equal(0, app.Extension.TotalCalls);
    }

    [Fact]
    public async Task Enabled_scheduler_fires_on_its_cron_and_refreshes_active_users()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:Enabled"] = "true",
            ["AssetRefresh:Cron"] = "* * * * * ?",
            // Seeded as the host starts, before the scheduler's first run: a user added after the day's
            // run went through would wait for a re-run, which the schedule does not make.
            ["DemoData:UsersOnEmptyDatabase"] = "3",
        });
        app.Time.StartTicking();
        app.CreateClient();
        var today = app.Services.GetRequiredService<BatchCalendar>().Today;

        // Demo user 1 is ACTIVE (statuses follow the id) and opened yesterday.
        await Eventually.UntilAsync(async () => (await app.SnapshotsOfAsync(1)).Any(snapshot => snapshot.SnapshotDay == today), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task A_crashing_run_is_logged_and_the_scheduler_keeps_running()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["AssetRefresh:Enabled"] = "true" });
        app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active);
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        // The run history is where the job looks first for the days it owes: the job throws before any run starts.
        await ExecuteSqlAsync(app, "ALTER TABLE batch_runs RENAME TO batch_runs_away");

        await scheduler.TriggerJob(AssetRefreshJob.Definition.FireKey);
        await app.Logs.WaitForAsync(
            e => e.Level == LogLevel.Error && e.Message.Contains("crashed"), TimeSpan.FromSeconds(15));

        await ExecuteSqlAsync(app, "ALTER TABLE batch_runs_away RENAME TO batch_runs");
        await scheduler.TriggerJob(AssetRefreshJob.Definition.FireKey);
        await Eventually.UntilAsync(async () => (await app.SnapshotsOfAsync(user)).Count == 1, TimeSpan.FromSeconds(15));
    }

    private static async Task ExecuteSqlAsync(CoreServerApp app, string sql)
    {
        await using var scope = app.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>().Database.ExecuteSqlRawAsync(sql);
    }
}
