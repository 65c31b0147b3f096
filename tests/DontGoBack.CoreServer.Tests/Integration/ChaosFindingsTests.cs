using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Telemetry;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>Defects the chaos campaign (bench/chaos.sh) found, each kept found by a test of its own.</summary>
public sealed class ChaosFindingsTests
{
    /// <summary>
    /// Seed 1, 2026-12-07: on the campaign's clock no clustered day ran its partitions; their triggers were dated by the
    /// system clock (Quartz's StartNow), so on a clock behind it they never came due, and on one ahead they waited for
    /// Quartz's misfire handler (up to a minute).
    /// </summary>
    [Theory]
    [InlineData(-400 * 24 * 60)]
    [InlineData(3)]
    public async Task A_clustered_day_on_a_clock_off_the_system_clock_runs_its_partitions_at_once(int minutesOff)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Batch:Clustered"] = "true", ["Batch:PartitionSize"] = "2",
        });
        app.Time.Now = DateTimeOffset.UtcNow.AddMinutes(minutesOff);
        app.Time.StartTicking();
        app.CreateClient();
        var day = app.Services.GetRequiredService<BatchCalendar>().Today;
        await app.AddActiveUsersAsync(5, day.AddDays(-1), 10_000_000);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<BatchJobs>().Find(AssetRefreshJob.Name).RunnerIn(scope.ServiceProvider)
                .RunDueDaysAsync(day, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        }

        // Well inside Quartz's misfire threshold (a minute): the partitions ran because they were due, not because they were late.
        BatchRun? run = null;
        await Eventually.UntilAsync(async () =>
        {
            await using var db = database.CreateContext();
            run = await db.BatchRuns.AsNoTracking().SingleAsync(r => r.JobName == AssetRefreshJob.Name && r.Day == day);
            return run.Status != BatchRunStatus.Running;
        }, TimeSpan.FromSeconds(20));
        Assert.Equal((BatchRunStatus.Completed, 5), (run!.Status, run.Success));
        await using var check = database.CreateContext();
        Assert.Equal(3, await check.BatchRunPartitions.CountAsync(p => p.RunId == run.Id));
    }

    /// <summary>
    /// Seed 11, 2026-12-07: a node stopped while it fanned a day out ("Scheduled asset refresh crashed: The Scheduler has
    /// been Shutdown") left the day's run marked running with partitions no trigger would ever run. The claim lets any
    /// process take over a stale lease, but only a fire or a start-up asks, so with the other nodes running on the day
    /// waited for the next day's fire. Now every node's watch takes such a day over once its lease is stale.
    /// </summary>
    [Theory]
    [InlineData(DatabaseProvider.Sqlite, false)]
    [InlineData(DatabaseProvider.Postgres, false)]
    [InlineData(DatabaseProvider.Postgres, true)]
    public async Task A_run_abandoned_with_its_lease_is_taken_over_by_a_running_node_without_waiting_for_a_fire(DatabaseProvider provider, bool clustered)
    {
        var leaseTimeout = TimeSpan.FromSeconds(5);
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:Enabled"] = "true", ["Batch:Clustered"] = clustered ? "true" : "false", ["Batch:PartitionSize"] = "2",
            ["Batch:LeaseTimeout"] = leaseTimeout.ToString(), ["Batch:WatchInterval"] = "00:00:00.100",
            ["Logging:LogLevel:DontGoBack.Batch"] = "Information",
        });
        // 09:00 in Seoul, after the day's 03:00 fire: a fresh install owes the day nothing until a run of it starts.
        app.Time.StartTicking();
        app.CreateClient();
        await app.Logs.WaitForAsync(e => e.Message.Contains("no day owed", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        var day = app.Services.GetRequiredService<BatchCalendar>().Today;
        await app.AddActiveUsersAsync(5, day.AddDays(-1), 10_000_000);

        // What a node leaves when it dies after its claim: the run running under its lease, its partitions planned, no trigger.
        long runId;
        await using (var db = database.CreateContext())
        {
            var now = app.Time.GetUtcNow();
            var run = new BatchRun
            {
                JobName = AssetRefreshJob.Name, Day = day, Status = BatchRunStatus.Running, StartedAt = now, HeartbeatAt = now,
                LeaseOwner = "a-node-that-died", Nodes = "node-gone", Attempts = 1,
            };
            db.BatchRuns.Add(run);
            await db.SaveChangesAsync();
            runId = run.Id;
            if (clustered)
            {
                db.BatchRunPartitions.Add(new BatchRunPartition { RunId = runId, PartitionNo = 1, FirstUserId = 1, LastUserId = long.MaxValue, Status = BatchPartitionStatus.Pending });
                await db.SaveChangesAsync();
            }
        }
        // While its lease is live nobody takes it over: a whole round of the watch, run here, looks and leaves it.
        var watch = app.Services.GetServices<IHostedService>().OfType<DailyJobWatch>().Single();
        await watch.RefreshAsync(CancellationToken.None);
        Assert.DoesNotContain(app.Logs.Entries, e => e.Message.Contains("was abandoned", StringComparison.Ordinal));
        await using (var db = database.CreateContext())
            Assert.Equal("a-node-that-died", (await db.BatchRuns.AsNoTracking().SingleAsync(r => r.Id == runId)).LeaseOwner);

        app.Time.Advance(leaseTimeout + TimeSpan.FromSeconds(1));
        await watch.RefreshAsync(CancellationToken.None);

        BatchRun? after = null;
        await Eventually.UntilAsync(async () =>
        {
            await using var db = database.CreateContext();
            after = await db.BatchRuns.AsNoTracking().SingleAsync(r => r.Id == runId);
            return after.Status != BatchRunStatus.Running;
        }, TimeSpan.FromSeconds(30));
        Assert.Equal((BatchRunStatus.Completed, 2, 5), (after!.Status, after.Attempts, after.Success));
        Assert.Contains(app.Logs.Entries, e => e.Message.Contains($"run {runId} for {day:yyyy-MM-dd} was abandoned", StringComparison.Ordinal));
    }
}
