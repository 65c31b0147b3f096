using System.Net.Http.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.User;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// Real server processes on one PostgreSQL, clustered through Quartz's job store, against the
/// stand-in extension server over loopback. The day under test is today in Seoul, the processes' own clock.
/// </summary>
// Real processes killed at chosen moments against leases and check-ins measured in seconds: run
// alone, after the parallel tests, so a busy machine does not move those moments.
[CollectionDefinition(nameof(ClusterTests), DisableParallelization = true)]
public sealed class ClusterTestsCollection;

[Collection(nameof(ClusterTests))]
[Trait("Category", "Cluster")]
public sealed class ClusterTests(ITestOutputHelper output)
{
    private const int Users = 3_000;
    private static readonly TimeZoneInfo Seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");

    [Fact]
    public async Task Three_replicas_run_the_day_once_and_share_its_partitions()
    {
        await using var standIn = await StandInServer.StartAsync(new Dictionary<string, string?> { ["Simulator:TrackUsers"] = "true" });
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        var active = await SeedAsync(database);
        var day = TestCalendar.Seoul.Today;

        var nodes = Enumerable.Range(1, 3).Select(n => CoreServerProcess.Start(NodeSettings(database, standIn, $"node-{n}"))).ToList();
        try
        {
            var run = await WaitForRunAsync(database, day, r => r.Status == BatchRunStatus.Completed, TimeSpan.FromSeconds(90), nodes);

            await using var db = database.CreateContext();
            var partitions = await db.BatchRunPartitions.AsNoTracking().Where(p => p.RunId == run.Id).ToListAsync();
            output.WriteLine($"run {run.Id}: {run.Success} refreshed by {string.Join(", ", partitions.GroupBy(p => p.Node).Select(g => $"{g.Key} {g.Count()}"))}");
            Assert.Equal((1, active, active), (run.Attempts, run.Total, run.Success));
            Assert.Single(await db.BatchRuns.AsNoTracking().Where(r => r.Day == day).ToListAsync());
            Assert.All(partitions, p => Assert.Equal(BatchPartitionStatus.Done, p.Status));
            // Each partition counted its own users at its start; they add up to the day's, and so does the attempt's record.
            Assert.Equal(active, partitions.Sum(p => p.Expected));
            var attempt = Assert.Single(await db.BatchRunAttempts.AsNoTracking().Where(a => a.RunId == run.Id).ToListAsync());
            Assert.Equal((BatchRunStatus.Completed, active, active, active), (attempt.Status, attempt.Expected, attempt.Total, attempt.Success));
            Assert.True(partitions.Select(p => p.Node).Distinct().Count() >= 2, "the partitions were not shared between nodes");
            Assert.Equal((active, active, 0), ((int)standIn.Calls.Count, standIn.Calls.DistinctUsers, standIn.Calls.RepeatedUsers));
            Assert.Equal(active, await db.DailyAssetSnapshots.CountAsync(s => s.SnapshotDay == day));
        }
        finally
        {
            foreach (var node in nodes)
                await node.DisposeAsync();
        }
        await database.AssertChainHoldsAsync();
    }

    [Fact]
    public async Task A_replica_killed_mid_run_loses_nothing_and_its_restart_duplicates_nothing()
    {
        // Slow answers, so the run is still going when a node dies.
        await using var standIn = await StandInServer.StartAsync(new Dictionary<string, string?>
        {
            ["Simulator:TrackUsers"] = "true", ["Simulator:AddedLatencyMs"] = "100",
        });
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        var active = await SeedAsync(database);
        var day = TestCalendar.Seoul.Today;
        var nodes = Enumerable.Range(1, 3).Select(n => CoreServerProcess.Start(NodeSettings(database, standIn, $"node-{n}"))).ToList();
        try
        {
            // The victim is a node in the middle of a partition.
            var (victim, partitionNo) = await WaitForBusyNodeAsync(database, TimeSpan.FromSeconds(90), nodes);
            nodes[victim].KillHard();

            var run = await WaitForRunAsync(database, day, r => r.Status == BatchRunStatus.Completed, TimeSpan.FromSeconds(120), nodes);
            // What the dead node wrote before dying counts as skipped when its partition is re-run.
            Assert.Equal((active, active, 1), (run.Total, run.Success + run.Skipped, run.Attempts));
            await AssertOneSnapshotPerActiveUserAsync(database, day, active);

            var restarted = nodes[victim] = CoreServerProcess.Start(NodeSettings(database, standIn, $"node-{victim + 1}"));
            // Its chance to run the day again: once it is up, the cluster's trigger (every three seconds) fires twice and finds nothing owed.
            await Eventually.UntilAsync(() => Task.FromResult(restarted.Output.Contains("Extension server:")), TimeSpan.FromSeconds(60));
            int NothingOwed() => nodes.Sum(n => n.Output.Split('\n').Count(line => line.Contains("Asset refresh: no day owed")));
            var firesBefore = NothingOwed();
            await Eventually.UntilAsync(() => Task.FromResult(NothingOwed() >= firesBefore + 2), TimeSpan.FromSeconds(60));
            var after = await WaitForRunAsync(database, day, _ => true, TimeSpan.FromSeconds(5), nodes);
            Assert.Equal((BatchRunStatus.Completed, 1), (after.Status, after.Attempts));
            await AssertOneSnapshotPerActiveUserAsync(database, day, active);
            output.WriteLine($"killed node-{victim + 1}; calls {standIn.Calls.Count} for {active} users; users asked more than once (their answers died with the node): {standIn.Calls.RepeatedUsers}");
            await using (var db = database.CreateContext())
            {
                // Its partition was recovered and finished by another node.
                var recovered = await db.BatchRunPartitions.AsNoTracking().SingleAsync(p => p.RunId == run.Id && p.PartitionNo == partitionNo);
                Assert.Equal(BatchPartitionStatus.Done, recovered.Status);
                Assert.NotEqual($"node-{victim + 1}", recovered.Node);
            }
        }
        finally
        {
            foreach (var node in nodes)
                await node.DisposeAsync();
        }
        await database.AssertChainHoldsAsync();
    }

    [Fact]
    public async Task A_single_node_killed_at_random_points_finishes_the_day_correctly_after_restarts()
    {
        await using var standIn = await StandInServer.StartAsync(new Dictionary<string, string?> { ["Simulator:AddedLatencyMs"] = "40" });
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        var active = await SeedAsync(database);
        var day = TestCalendar.Seoul.Today;
        var settings = NodeSettings(database, standIn, "single");
        settings["Batch:Clustered"] = "false";
        settings["Batch:LeaseTimeout"] = "00:00:03";
        var random = new Random(20250810);

        for (var kill = 0; kill < 4; kill++)
        {
            await using var node = CoreServerProcess.Start(settings);
            // Killed at a random point after this attempt has written something, however slowly the machine starts a process.
            var writtenBefore = await SnapshotsOfDayAsync(database, day);
            await Eventually.UntilAsync(async () => await SnapshotsOfDayAsync(database, day) > writtenBefore, TimeSpan.FromSeconds(60));
            // The scenario's timing, not a wait for an outcome: the kill lands at a random point of the writing.
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(0, 1_500)));
            node.KillHard();
            // The scenario's timing too: the next start comes after the dead node's lease (3 s) ran out, so it
            // takes the dead run over as a real restart would; nothing is asserted after this wait.
            await Task.Delay(TimeSpan.FromSeconds(3.5));
        }
        await using var last = CoreServerProcess.Start(settings);
        var run = await WaitForRunAsync(database, day, r => r.Status == BatchRunStatus.Completed, TimeSpan.FromSeconds(120), [last]);

        output.WriteLine($"run {run.Id}: attempts {run.Attempts}, last attempt refreshed {run.Success} and skipped {run.Skipped}");
        Assert.True(run.Attempts >= 2, "the kills never interrupted a run");
        await AssertOneSnapshotPerActiveUserAsync(database, day, active);
        await database.AssertChainHoldsAsync();
    }

    [Fact]
    public async Task Two_replicas_run_a_dormancy_day_once_and_record_each_change_once()
    {
        await using var standIn = await StandInServer.StartAsync();
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        var day = TestCalendar.Seoul.Today;
        // Accounts opened 400 days ago, so the demo population's last activity has a few ACTIVE users last seen more than a year ago.
        await SeedAsync(database, openingDay: day.AddDays(-400));
        var yearBefore = new DateTimeOffset(day.AddDays(-365).ToDateTime(TimeOnly.MinValue), Seoul.GetUtcOffset(day.ToDateTime(TimeOnly.MinValue)));
        List<long> sleepers;
        await using (var db = database.CreateContext())
        {
            sleepers = (await db.Users.AsNoTracking().Where(u => u.Status == AccountStatus.Active)
                .Select(u => new { u.Id, u.LastActivityAt }).ToListAsync())
                .Where(u => u.LastActivityAt < yearBefore).Select(u => u.Id).Order().ToList();
        }
        Assert.NotEmpty(sleepers);

        var nodes = Enumerable.Range(1, 2).Select(n =>
        {
            var settings = NodeSettings(database, standIn, $"node-{n}");
            settings["AssetRefresh:Enabled"] = "false";
            settings["UserDormancy:Cron"] = "0/3 * * * * ?";
            return CoreServerProcess.Start(settings);
        }).ToList();
        try
        {
            var run = await WaitForRunAsync(database, day, r => r.Status == BatchRunStatus.Completed, TimeSpan.FromSeconds(90), nodes,
                UserDormancyJob.Name);

            await using var db = database.CreateContext();
            var partitions = await db.BatchRunPartitions.AsNoTracking().Where(p => p.RunId == run.Id).ToListAsync();
            output.WriteLine($"run {run.Id}: {run.Success} made dormant by {string.Join(", ", partitions.GroupBy(p => p.Node).Select(g => $"{g.Key} {g.Count()}"))}");
            Assert.Equal((1, sleepers.Count), (run.Attempts, run.Success));
            Assert.True(partitions.Count > 1, "the day was not split into partitions");
            Assert.All(partitions, p => Assert.Equal(BatchPartitionStatus.Done, p.Status));
            Assert.Single(await db.BatchRuns.AsNoTracking().Where(r => r.JobName == UserDormancyJob.Name).ToListAsync());
            var changed = await db.UserStatusChanges.AsNoTracking().Select(c => c.UserId).ToListAsync();
            Assert.Equal(sleepers, changed.Order());
            Assert.Equal(sleepers, (await db.Users.AsNoTracking().Where(u => sleepers.Contains(u.Id) && u.Status == AccountStatus.Inactive)
                .Select(u => u.Id).ToListAsync()).Order());
            Assert.Equal(0, await db.BatchRuns.CountAsync(r => r.JobName == AssetRefreshJob.Name));
        }
        finally
        {
            foreach (var node in nodes)
                await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task Three_replicas_alert_an_overdue_day_once_and_resolve_it_once()
    {
        await using var webhook = await FakeWebhook.StartAsync();
        await using var standIn = await StandInServer.StartAsync();
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await SeedAsync(database);
        var day = TestCalendar.Seoul.Today;
        // The schedule is paused before any node starts, so no node runs the day.
        await using (var db = database.CreateContext())
        {
            db.SchedulePauses.Add(new SchedulePause
            {
                JobName = AssetRefreshJob.Name, PausedAt = DateTimeOffset.UtcNow, Reason = "nobody runs the day", Address = "127.0.0.1", TokenName = "test",
            });
            await db.SaveChangesAsync();
        }
        // A cron every three seconds with a deadline a second after midnight: the first fire while the nodes run owes today,
        // overdue at once.
        Dictionary<string, string?> Settings(int n) => new(NodeSettings(database, standIn, $"node-{n}"))
        {
            ["AssetRefresh:Cron"] = "0/3 * * * * ?",
            ["AssetRefresh:CompleteBy"] = "00:00:01",
            ["UserDormancy:Enabled"] = "false",
            ["HistoryMaintenance:Enabled"] = "false",
            ["Batch:WatchInterval"] = "00:00:00.300",
            ["Alerts:WebhookUrl"] = webhook.Url,
            ["Alerts:PollInterval"] = "00:00:00.200",
            ["Logging:LogLevel:DontGoBack.Batch.Alerts.DeadlineAlerts"] = "Debug",
        };
        var nodes = Enumerable.Range(1, 3).Select(n => CoreServerProcess.Start(Settings(n))).ToList();
        try
        {
            await webhook.WaitForCallsAsync(1, TimeSpan.FromSeconds(90));
            await EveryNodeReviewsTwiceMoreAsync(nodes);

            // The day is run by a fourth process that does not watch the schedule; a node notices and resolves the alert.
            await using (var runner = new CoreServerApp(database, new Dictionary<string, string?>
                         {
                             ["Extension:BaseUrl"] = standIn.Url, ["Auth:BaseUrl"] = standIn.Url, ["Auth:ClientSecret"] = StandInServer.ClientSecret,
                         }) { UseFakeExtension = false })
            {
                runner.Time.Now = DateTimeOffset.UtcNow;
                Assert.Equal(BatchRunStatus.Completed, (await runner.CreateClient().RunDayAsync(day)).Status);
            }
            await webhook.WaitForCallsAsync(2, TimeSpan.FromSeconds(60));
            await EveryNodeReviewsTwiceMoreAsync(nodes);

            foreach (var call in webhook.Calls)
                output.WriteLine($"call {call.No}: {call.AnsweredWith} {call.IdempotencyKey} {call.Body}");
            Assert.Equal(2, webhook.Calls.Count);
            Assert.Equal([("raised", "overdue"), ("resolved", "overdue")],
                webhook.Received.Select(b => (b.GetProperty("kind").GetString(), b.GetProperty("condition").GetString())));
            Assert.All(webhook.Received, b => Assert.Equal(day.ToString("O"), b.GetProperty("day").GetString()));
            await using var db = database.CreateContext();
            Assert.Equal(2, await db.DeadlineAlerts.CountAsync());
            var raisers = nodes.Count(n => n.Output.Contains("Alert raised: asset-refresh"));
            Assert.Equal(1, raisers);
        }
        finally
        {
            foreach (var node in nodes)
                await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_run_cancelled_while_three_replicas_work_on_it_ends_aborted_everywhere_and_resumes_without_doubles()
    {
        await using var standIn = await StandInServer.StartAsync(new Dictionary<string, string?>
        {
            ["Simulator:TrackUsers"] = "true", ["Simulator:AddedLatencyMs"] = "100",
        });
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        var active = await SeedAsync(database);
        var day = TestCalendar.Seoul.Today;
        Dictionary<string, string?> Settings(int n) => new(NodeSettings(database, standIn, $"node-{n}"))
        {
            ["Batch:ProgressInterval"] = "00:00:00.200", ["UserDormancy:Enabled"] = "false", ["HistoryMaintenance:Enabled"] = "false",
        };
        var nodes = Enumerable.Range(1, 3).Select(n => CoreServerProcess.Start(Settings(n))).ToList();
        try
        {
            await WaitForBusyNodeAsync(database, TimeSpan.FromSeconds(90), nodes);
            var running = await WaitForRunAsync(database, day, r => r.Status == BatchRunStatus.Running, TimeSpan.FromSeconds(5), nodes);

            // A fourth process reads the run's progress and cancels it: the nodes learn of the cancel from the run's row alone.
            await using (var operatorApp = new CoreServerApp(database) { UseFakeExtension = false })
            {
                operatorApp.Time.Now = DateTimeOffset.UtcNow;
                var api = operatorApp.CreateClient();
                // The partitions' progress adds up: readings move forward past what one partition holds (Batch:PartitionSize 200).
                var readings = new List<(int Expected, int Seen)>();
                await Eventually.UntilAsync(async () =>
                {
                    var detail = await api.GetFromJsonAsync<System.Text.Json.JsonElement>($"/internal/batch/runs/{running.Id}");
                    if (detail.GetProperty("progress") is { ValueKind: System.Text.Json.JsonValueKind.Object } progress
                        && progress.GetProperty("seen").GetInt32() is var seen && (readings.Count == 0 || seen > readings[^1].Seen))
                        readings.Add((progress.GetProperty("expected").GetInt32(), seen));
                    return readings.Count >= 2 && readings[^1].Seen > 200;
                }, TimeSpan.FromSeconds(60));
                Assert.All(readings, r => Assert.InRange(r.Seen, 1, Math.Min(r.Expected, active - 1)));
                output.WriteLine($"progress mid-run: {string.Join(", ", readings.Select(r => $"{r.Seen} of {r.Expected}"))}");

                var cancel = await api.PostAsJsonAsync($"/internal/batch/runs/{running.Id}/cancel", new { reason = "bad data upstream" });
                Assert.Equal(System.Net.HttpStatusCode.Accepted, cancel.StatusCode);
            }
            // The cancelled attempt's own record stays aborted, however soon the cluster's trigger (every three seconds) resumes the day.
            BatchRunAttempt? cancelled = null;
            await Eventually.UntilAsync(async () =>
            {
                await using var db = database.CreateContext();
                cancelled = await db.BatchRunAttempts.AsNoTracking()
                    .SingleOrDefaultAsync(a => a.RunId == running.Id && a.Attempt == 1 && a.Status == BatchRunStatus.Aborted);
                return cancelled is not null;
            }, TimeSpan.FromSeconds(60));
            Assert.Equal("cancelled by an operator: bad data upstream", cancelled!.Error);
            Assert.InRange(cancelled.Success, 1, active - 1);

            // Resumed by the cluster: nothing doubled, nothing lost.
            var resumed = await WaitForRunAsync(database, day, r => r.Status == BatchRunStatus.Completed, TimeSpan.FromSeconds(120), nodes);
            Assert.Equal(2, resumed.Attempts);
            Assert.Equal(active, resumed.Success + resumed.Skipped);
            await AssertOneSnapshotPerActiveUserAsync(database, day, active);
            output.WriteLine($"cancelled run {running.Id} with {cancelled.Success} written; resumed by attempt 2: {resumed.Success} more, {resumed.Skipped} skipped");
        }
        finally
        {
            foreach (var node in nodes)
                await node.DisposeAsync();
        }
        await database.AssertChainHoldsAsync();
    }

    /// <summary>Waits until each node has read the standing and reviewed the alerts at least twice more: each had its chance to act.</summary>
    private static async Task EveryNodeReviewsTwiceMoreAsync(IReadOnlyList<CoreServerProcess> nodes)
    {
        static int Reviews(CoreServerProcess node) => node.Output.Split('\n').Count(line => line.Contains("Alerts of asset-refresh reviewed"));
        var before = nodes.Select(Reviews).ToList();
        await Eventually.UntilAsync(() => Task.FromResult(nodes.Select(Reviews).Zip(before).All(n => n.First >= n.Second + 2)), TimeSpan.FromSeconds(60));
    }

    private static Dictionary<string, string?> NodeSettings(TestDatabase database, StandInServer standIn, string name) => new()
    {
        ["Database:Provider"] = "Postgres",
        ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
        ["Batch:Clustered"] = "true",
        ["Batch:NodeName"] = name,
        ["Batch:PartitionSize"] = "200",
        ["Batch:ClusterCheckinInterval"] = "00:00:01",
        // Longer than Quartz takes to see a dead node (three missed one-second check-ins), so a
        // killed node's partition is recovered within the same attempt.
        ["Batch:LeaseTimeout"] = "00:00:10",
        ["AssetRefresh:Cron"] = "0/3 * * * * ?",
        ["AssetRefresh:MaxConcurrency"] = "8",
        ["Extension:BaseUrl"] = standIn.Url,
        ["Auth:BaseUrl"] = standIn.Url,
        ["Auth:ClientSecret"] = StandInServer.ClientSecret,
    };

    /// <returns>The number of active users.</returns>
    /// <param name="openingDay">The demo accounts' opening day; default yesterday.</param>
    private static async Task<int> SeedAsync(TestDatabase database, DateOnly? openingDay = null)
    {
        // An in-process server applies the migrations (Quartz's tables included) and seeds the users.
        await using var setup = new CoreServerApp(database) { UseFakeExtension = false };
        setup.Time.Now = DateTimeOffset.UtcNow;
        setup.CreateClient();
        await using var scope = setup.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<DemoDataSeeder>().AddUsersAsync(Users, activePercent: 85, CancellationToken.None, openingDay);
        await using var db = database.CreateContext();
        return await db.Users.CountAsync(u => u.Status == AccountStatus.Active);
    }

    private static async Task AssertOneSnapshotPerActiveUserAsync(TestDatabase database, DateOnly day, int active)
    {
        await using var db = database.CreateContext();
        var refreshed = await db.DailyAssetSnapshots.Where(s => s.SnapshotDay == day).Select(s => s.UserId).ToListAsync();
        var activeIds = await db.Users.Where(u => u.Status == AccountStatus.Active).Select(u => u.Id).ToListAsync();
        Assert.Equal(refreshed.Count, refreshed.Distinct().Count());
        Assert.Equal(activeIds.Order(), refreshed.Order());
        Assert.Equal(active, refreshed.Count);
    }

    private static async Task<int> SnapshotsOfDayAsync(TestDatabase database, DateOnly day)
    {
        await using var db = database.CreateContext();
        return await db.DailyAssetSnapshots.CountAsync(s => s.SnapshotDay == day);
    }

    private static async Task<BatchRun> WaitForRunAsync(
        TestDatabase database, DateOnly day, Func<BatchRun, bool> condition, TimeSpan timeout, IReadOnlyList<CoreServerProcess> nodes,
        string job = AssetRefreshJob.Name)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            await using (var db = database.CreateContext())
            {
                if (await db.BatchRuns.AsNoTracking().SingleOrDefaultAsync(r => r.JobName == job && r.Day == day) is { } run
                    && condition(run))
                    return run;
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"run for {day} not as expected within {timeout}; node output:\n{string.Join("\n---\n", nodes.Select(n => n.Output))}");
            await Task.Delay(250);
        }
    }

    /// <returns>The index of a node holding a partition that is not finished, once two are done, and that partition.</returns>
    private static async Task<(int Node, int Partition)> WaitForBusyNodeAsync(TestDatabase database, TimeSpan timeout, IReadOnlyList<CoreServerProcess> nodes)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            await using (var db = database.CreateContext())
            {
                var partitions = await db.BatchRunPartitions.AsNoTracking().ToListAsync();
                if (partitions.Count(p => p.Status == BatchPartitionStatus.Done) >= 2
                    && partitions.FirstOrDefault(p => p.Status == BatchPartitionStatus.Pending && p.Node is not null) is { } busy)
                    return (int.Parse(busy.Node!["node-".Length..]) - 1, busy.PartitionNo);
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no node busy within {timeout}; node output:\n{string.Join("\n---\n", nodes.Select(n => n.Output))}");
            await Task.Delay(100);
        }
    }
}
