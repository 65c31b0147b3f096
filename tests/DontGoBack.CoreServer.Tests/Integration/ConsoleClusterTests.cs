using System.Globalization;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Quartz;
using Xunit.Abstractions;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The console's overview of a cluster at work, in a real browser: two nodes on one PostgreSQL (this
/// test's process serving the console, and a server process of its own) share a day's partitions
/// while the extension server holds them half-way.
/// </summary>
[Collection(ConsoleBrowserCollection.Name)]
[Trait("Category", "Cluster")]
public sealed class ConsoleClusterTests(ConsoleBrowser browser, ITestOutputHelper output)
{
    private const int PartitionSize = 20;
    private const int Partitions = 6;

    /// <summary>Calls answered per partition; the later ones wait for the test.</summary>
    private const int AnsweredPerPartition = 5;

    /// <summary>Users of each partition that already have the day's snapshot: done, skipped without a call.</summary>
    private const int DonePerPartition = 3;

    [Fact]
    public async Task A_clustered_run_in_flight_shows_each_nodes_partitions_users_done_and_rate_on_the_overview()
    {
        await using var extension = await HostileExtensionServer.StartAsync();
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        var day = TestCalendar.Seoul.Today;
        await SeedAsync(database, day);

        // Each partition gets a few answers, then its calls wait: every node's partitions stop half-way, and stay so.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ranges = new Lazy<Task<List<BatchRunPartition>>>(() => PartitionsAsync(database, day));
        var answered = new int[Partitions];
        for (var id = 1L; id <= Partitions * PartitionSize; id++)
        {
            extension.Answer(id, async (http, call) =>
            {
                var partition = (await ranges.Value).Single(p => call.UserId >= p.FirstUserId && call.UserId <= p.LastUserId).PartitionNo;
                if (Interlocked.Increment(ref answered[partition]) > AnsweredPerPartition)
                    await release.Task.WaitAsync(http.RequestAborted);
                await HostileExtensionServer.Correct(http, call);
            });
        }

        await using var nodeA = new CoreServerApp(database, NodeSettings(database, extension, "node-a")) { UseFakeExtension = false };
        // Quartz dates the partitions' firings by the real clock: the console's clock must agree.
        nodeA.Time.Now = DateTimeOffset.UtcNow;
        nodeA.Time.StartTicking();
        var server = nodeA.StartOnKestrel();
        var nodeB = CoreServerProcess.Start(NodeSettings(database, extension, "node-b"));
        try
        {
            // Both nodes hold partitions (each runs at most two at once: six cannot all go to one), and
            // each of those wrote the answers it got; nothing moves until the test lets the calls through.
            List<BatchRunPartition> taken = [];
            await Eventually.UntilAsync(async () =>
            {
                taken = (await PartitionsAsync(database, day)).Where(p => p.Status == BatchPartitionStatus.Pending && p.Node is not null).ToList();
                return taken.Select(p => p.Node).Distinct().Count() == 2
                       && taken.All(p => (p.Success, p.Skipped) == (AnsweredPerPartition, DonePerPartition));
            }, TimeSpan.FromSeconds(90));
            var scheduler = await nodeA.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
            var firings = (await scheduler.QueryFireInstances(new FireInstanceQuery { Take = PagedQuery.All })).Items;

            var before = DateTimeOffset.UtcNow;
            var page = await browser.OpenAsync(server);
            await page.GotoAsync("internal/console");
            var table = page.Locator("[data-test=cluster-nodes]");
            await table.WaitForAsync();
            var after = DateTimeOffset.UtcNow;
            await ConsoleBrowser.ScreenshotAsync(page, "overview-cluster-in-flight");

            var runId = taken[0].RunId;
            foreach (var node in new[] { "node-a", "node-b" })
            {
                var row = table.Locator($"tr[data-node='{node}']");
                Assert.Equal(node, await row.Locator("[data-field=node]").TextContentAsync());
                var mine = taken.Where(p => p.Node == node).OrderBy(p => p.PartitionNo).ToList();
                var shown = row.Locator("li[data-partition]");
                Assert.Equal(mine.Select(p => p.PartitionNo.ToString(CultureInfo.InvariantCulture)),
                    await shown.EvaluateAllAsync<string[]>("items => items.map(i => i.dataset.partition)"));
                Assert.All(await shown.EvaluateAllAsync<string[]>("items => items.map(i => i.dataset.runId)"),
                    id => Assert.Equal(runId.ToString(CultureInfo.InvariantCulture), id));
                foreach (var partition in mine)
                {
                    var item = row.Locator($"li[data-partition='{partition.PartitionNo}']");
                    // Its work is the users not done at its start; those it passed over as done are neither work nor work done.
                    Assert.Equal($"{AnsweredPerPartition}", await item.Locator("[data-field=processed]").TextContentAsync());
                    Assert.Equal($"{PartitionSize - DonePerPartition}", await item.Locator("[data-field=expected]").TextContentAsync());
                }
                Assert.Equal($"{mine.Count * AnsweredPerPartition}", await row.Locator("[data-field=users-done]").TextContentAsync());

                // The rate counts the users written, not those skipped as done, since each partition started on its node.
                var started = mine.Select(p => firings.Single(f => f.TriggerKey.Name.EndsWith($"-partition-{p.PartitionNo}", StringComparison.Ordinal)
                                                                   && f.SchedulerInstanceId == node).FireTimeUtc).ToList();
                var rate = double.Parse(await row.Locator("[data-field=rate]").TextContentAsync() ?? "", CultureInfo.InvariantCulture);
                var slowest = started.Sum(s => AnsweredPerPartition / (after - s).TotalSeconds);
                var fastest = started.Sum(s => AnsweredPerPartition / Math.Max(0.001, (before - s).TotalSeconds));
                output.WriteLine($"{node}: partitions {string.Join(", ", mine.Select(p => p.PartitionNo))}, rate {rate} within [{slowest:0.###}, {fastest:0.###}]");
                // Shown to one decimal: at most 0.05 off the exact figure.
                Assert.InRange(rate, slowest - 0.051, fastest + 0.051);
            }
            Assert.Contains("skipped as already done are not counted", await page.Locator("[data-test=cluster-rate-rule]").TextContentAsync());
            // The rest of the day's partitions wait for a node.
            Assert.Equal($"{Partitions - taken.Count}", await page.Locator($"[data-test=cluster-waiting] [data-run-id='{runId}'] [data-field=waiting]").TextContentAsync());

            // The run's own page names the partitions' nodes as the overview does.
            await table.Locator("tr[data-node='node-a'] li[data-partition] a").First.ClickAsync();
            await page.WaitForURLAsync($"**/internal/console/runs/{runId}", new() { WaitUntil = Microsoft.Playwright.WaitUntilState.Commit });
            foreach (var partition in taken)
                Assert.Equal(partition.Node, await page.Locator($"tr[data-partition='{partition.PartitionNo}'] [data-field=node]").TextContentAsync());

            // The node says its name in its log as it starts, the name everything else shows.
            Assert.Contains("Node: node-b (clustered)", nodeB.Output, StringComparison.Ordinal);

            // Let go: the day goes through on both nodes.
            release.SetResult();
            await Eventually.UntilAsync(async () =>
            {
                await using var db = database.CreateContext();
                return await db.BatchRuns.AsNoTracking().AnyAsync(r => r.Id == runId && r.Status == BatchRunStatus.Completed);
            }, TimeSpan.FromSeconds(90));
        }
        finally
        {
            release.TrySetResult();
            await nodeB.DisposeAsync();
            output.WriteLine(nodeB.Output);
        }
    }

    private static Dictionary<string, string?> NodeSettings(TestDatabase database, HostileExtensionServer extension, string name) => new()
    {
        ["Database:Provider"] = "Postgres",
        ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
        ["Batch:Clustered"] = "true",
        ["Batch:NodeName"] = name,
        ["Batch:PartitionSize"] = $"{PartitionSize}",
        ["Batch:ClusterCheckinInterval"] = "00:00:01",
        ["Batch:ProgressInterval"] = "00:00:00.200",
        ["AssetRefresh:Enabled"] = "true",
        ["AssetRefresh:Cron"] = "0/3 * * * * ?",
        ["AssetRefresh:MaxConcurrency"] = "4",
        ["AssetRefresh:WriteChunkSize"] = "1",
        ["AssetRefresh:MaxWriteDelay"] = "00:00:00.050",
        ["UserDormancy:Enabled"] = "false",
        ["HistoryMaintenance:Enabled"] = "false",
        ["Extension:BaseUrl"] = extension.Url,
        ["Auth:BaseUrl"] = extension.Url,
        ["Auth:ClientSecret"] = HostileExtensionServer.ClientSecret,
        // A held call waits for the test, not for a timeout that would count its user as failed.
        ["Extension:AttemptTimeout"] = "00:05:00",
        ["Extension:UserDeadline"] = "00:10:00",
    };

    /// <summary>Six partitions' worth of ACTIVE users (ids 1 to 120); the first few of each twenty already have the day's snapshot.</summary>
    private static async Task SeedAsync(TestDatabase database, DateOnly day)
    {
        // An in-process server applies the migrations (Quartz's tables included); its scheduler is not clustered and fires nothing.
        await using var setup = new CoreServerApp(database);
        setup.CreateClient();
        for (var i = 0; i < Partitions * PartitionSize; i++)
        {
            var id = i % PartitionSize < DonePerPartition
                ? await setup.AddUserAsync(AccountStatus.Active, (day.AddDays(-1), 1_000_000), (day, 1_000_000))
                : await setup.AddUserAsync(AccountStatus.Active, (day.AddDays(-1), 1_000_000));
            Assert.Equal(i + 1, id);
        }
    }

    private static async Task<List<BatchRunPartition>> PartitionsAsync(TestDatabase database, DateOnly day)
    {
        await using var db = database.CreateContext();
        return await db.BatchRunPartitions.AsNoTracking()
            .Where(p => db.BatchRuns.Any(r => r.Id == p.RunId && r.JobName == AssetRefreshJob.Name && r.Day == day))
            .OrderBy(p => p.PartitionNo).ToListAsync();
    }
}
