using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class RunHistoryTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_day_is_one_recorded_run_and_a_rerun_continues_it_with_its_failures_listed(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["Batch:NodeName"] = "node-a" });
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(6, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.BadRequest, users[2], users[4]);

        var first = await client.RunDayAsync(Day);
        app.Extension.ClearFaults();
        var second = await client.RunDayAsync(Day);

        Assert.Equal((1, 2), (first.Attempt, second.Attempt));
        Assert.Equal(first.RunId, second.RunId);
        Assert.Equal((6, 2, 4, 0), (second.Total, second.Success, second.Skipped, second.Failed));

        using var list = JsonDocument.Parse(await client.GetStringAsync($"/internal/batch/runs?job={AssetRefreshJob.Name}&from=2025-08-01&to=2025-08-31"));
        var run = Assert.Single(list.RootElement.EnumerateArray());
        Assert.Equal(("completed", 2, "2025-08-10"), (run.GetProperty("status").GetString(), run.GetProperty("attempts").GetInt32(), run.GetProperty("day").GetString()));
        Assert.Equal(["node-a"], run.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()));
        Assert.True(run.GetProperty("finishedAt").ValueKind == JsonValueKind.String);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_empty_job_filter_means_every_job_in_the_runs_and_the_audit_alike(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        await app.AddActiveUsersAsync(2, Day.AddDays(-1), 1_000_000);
        await client.RunDayAsync(Day);
        await RefreshRuns.ResultOfAsync(await client.PostAsync($"/internal/batch/user-dormancy/runs?day={Day:yyyy-MM-dd}", null));

        var runs = await client.GetAsync("/internal/batch/runs?job=");
        var audit = await client.GetAsync("/internal/batch/audit?job=");

        Assert.True(runs.IsSuccessStatusCode, $"runs?job= answered {(int)runs.StatusCode}: {await runs.Content.ReadAsStringAsync()}");
        Assert.True(audit.IsSuccessStatusCode, $"audit?job= answered {(int)audit.StatusCode}: {await audit.Content.ReadAsStringAsync()}");
        using var listed = JsonDocument.Parse(await runs.Content.ReadAsStringAsync());
        Assert.Equal(["asset-refresh", "user-dormancy"], listed.RootElement.EnumerateArray().Select(r => r.GetProperty("job").GetString()).Order());
        using var actions = JsonDocument.Parse(await audit.Content.ReadAsStringAsync());
        Assert.Equal(["asset-refresh", "user-dormancy"],
            actions.RootElement.GetProperty("actions").EnumerateArray().Select(a => a.GetProperty("jobName").GetString()).Order());
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_run_shows_its_failures_paged(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(5, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.BadRequest, users[0], users[1], users[3]);
        var result = await client.RunDayAsync(Day);

        using var page = JsonDocument.Parse(await client.GetStringAsync($"/internal/batch/runs/{result.RunId}?page=2&pageSize=2"));

        Assert.Equal("completed_with_failures", page.RootElement.GetProperty("run").GetProperty("status").GetString());
        var failures = page.RootElement.GetProperty("failures");
        Assert.Equal(3, failures.GetProperty("totalCount").GetInt32());
        var item = Assert.Single(failures.GetProperty("items").EnumerateArray());
        Assert.Equal((users[3], "Permanent", 1), (item.GetProperty("userId").GetInt64(), item.GetProperty("failureClass").GetString(), item.GetProperty("attempts").GetInt32()));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/internal/batch/runs/999999")).StatusCode);
        app.RemoteAddress = IPAddress.Parse("203.0.113.9");
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/internal/batch/runs")).StatusCode);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_live_lease_blocks_a_second_attempt_and_a_dead_one_is_taken_over(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["Batch:LeaseTimeout"] = "00:00:30" });
        var client = app.CreateClient();
        await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 1_000_000));
        await using var scope = app.Services.CreateAsyncScope();
        var ledger = scope.ServiceProvider.GetRequiredService<BatchRunLedger>();
        // Another process claimed the day and is alive.
        var other = await ledger.TryClaimAsync(AssetRefreshJob.Name, Day, rerunCompleted: true, CancellationToken.None);
        Assert.NotNull(other);

        var blocked = await client.PostAsync($"{RefreshRuns.Path}?day=2025-08-10", null);
        Assert.Equal(HttpStatusCode.Conflict, blocked.StatusCode);

        // Its process dies: no heartbeat for longer than the lease.
        app.Time.Now += TimeSpan.FromSeconds(31);
        var taken = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.Completed, 2, 1), (taken.Status, taken.Attempt, taken.Success));

        // The dead attempt can neither renew nor overwrite the run it lost.
        Assert.Equal(LeaseState.Lost, await ledger.RenewAsync(other, null, new RunProgressCounts(0, 0, 0, 0, 0), CancellationToken.None));
        await ledger.FinishAsync(other, new BatchResult(Day, BatchRunStatus.Failed, 0, 0, 0, 0, 0, "late"), CancellationToken.None);
        var run = await ledger.FindAsync(AssetRefreshJob.Name, Day, CancellationToken.None);
        Assert.Equal((BatchRunStatus.Completed, 1), (run!.Status, run.Success));
    }

    [Fact]
    public async Task Start_up_runs_missed_days_oldest_first_and_reports_older_ones()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var settings = new Dictionary<string, string?> { ["AssetRefresh:Enabled"] = "true", ["Batch:MaxCatchUpDays"] = "3" };
        long user;
        // The job last ran five days ago; then the server was down.
        await using (var before = new CoreServerApp(database))
        {
            var client = before.CreateClient();
            user = await before.AddUserAsync(AccountStatus.Active, (Day.AddDays(-6), 1_000_000));
            // On its own day: the schedule owes the days since (a day run by hand later would owe nothing after it).
            before.Time.Now = CoreServerApp.DefaultNow.AddDays(-5);
            await client.RunDayAsync(Day.AddDays(-5));
        }

        await using var app = new CoreServerApp(database, settings);
        app.CreateClient();

        await Eventually.UntilAsync(async () => (await app.SnapshotsOfAsync(user)).Any(s => s.SnapshotDay == Day), TimeSpan.FromSeconds(20));
        // The day's snapshots are written before its run is recorded as ended: wait for that too.
        List<BatchRun> runs = [];
        await Eventually.UntilAsync(async () =>
        {
            await using var scope = app.Services.CreateAsyncScope();
            runs = await scope.ServiceProvider.GetRequiredService<BatchRunLedger>()
                .ListAsync(AssetRefreshJob.Name, Day.AddDays(-10), Day, CancellationToken.None);
            return runs.Any(r => r.Day == Day && r.Status != BatchRunStatus.Running);
        }, TimeSpan.FromSeconds(20));
        var days = runs.OrderBy(r => r.Id).Select(r => r.Day).ToArray();
        Assert.Equal([Day.AddDays(-5), Day.AddDays(-3), Day.AddDays(-2), Day.AddDays(-1), Day], days);
        Assert.All(runs, r => Assert.Equal(BatchRunStatus.Completed, r.Status));
        Assert.Contains(app.Logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("2025-08-06") && e.Message.Contains("MaxCatchUpDays"));
    }

    [Fact]
    public async Task The_scheduler_does_not_run_a_day_that_already_went_through()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["AssetRefresh:Enabled"] = "true" });
        var client = app.CreateClient();
        await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 1_000_000));
        var manual = await client.RunDayAsync(Day);
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();

        var executions = await JobExecutions.ListenAsync(scheduler, AssetRefreshJob.Definition.FireKey);
        await scheduler.TriggerJob(AssetRefreshJob.Definition.FireKey);
        await scheduler.TriggerJob(AssetRefreshJob.Definition.FireKey);
        await executions.WaitForAsync(2, TimeSpan.FromSeconds(30));

        await using var scope = app.Services.CreateAsyncScope();
        var run = await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().FindAsync(AssetRefreshJob.Name, Day, CancellationToken.None);
        Assert.Equal((manual.RunId, 1), (run!.Id, run.Attempts));
    }

    [Fact]
    public async Task Shutdown_mid_run_leaves_it_aborted_and_the_next_start_finishes_it()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var settings = new Dictionary<string, string?>
        {
            ["AssetRefresh:Enabled"] = "true", ["Extension:AttemptTimeout"] = "00:00:20",
        };
        var users = new List<long>();
        await using (var first = new CoreServerApp(database, settings))
        {
            var client = first.CreateClient();
            for (var i = 0; i < 4; i++)
                users.Add(await first.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 1_000_000)));
            first.Extension.Inject(Fault.Block, users[2]);
            var run = client.PostAsync($"{RefreshRuns.Path}?day=2025-08-10", null);
            await first.Extension.BlockedCallArrived.WaitAsync(TimeSpan.FromSeconds(10));

            first.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
            await Record.ExceptionAsync(() => run);
        }
        await using (var db = database.CreateContext())
        {
            var aborted = await db.BatchRuns.AsNoTracking().SingleAsync();
            Assert.Equal((BatchRunStatus.Aborted, "stopped before the run was through"), (aborted.Status, aborted.Error));
        }

        await using var second = new CoreServerApp(database, settings);
        second.CreateClient();
        await Eventually.UntilAsync(async () =>
        {
            await using var scope = second.Services.CreateAsyncScope();
            var run = await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().FindAsync(AssetRefreshJob.Name, Day, CancellationToken.None);
            return run?.Status == BatchRunStatus.Completed;
        }, TimeSpan.FromSeconds(20));
        foreach (var id in users)
            Assert.Single(await second.SnapshotsOfAsync(id), s => s.SnapshotDay == Day);
    }
}
