using DontGoBack.CoreServer.AdminConsole;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>A node has one name: the cluster's check-ins (the console's nodes table) name it as its runs, attempts and partitions do.</summary>
[Trait("Category", "Cluster")]
public sealed class ClusterNodeNameTests
{
    [Fact]
    public void A_node_name_longer_than_its_columns_is_rejected_naming_Batch_NodeName()
    {
        static List<System.ComponentModel.DataAnnotations.ValidationResult> Validate(BatchOptions options)
        {
            var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
            System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new(options), results, validateAllProperties: true);
            return results;
        }
        Assert.Empty(Validate(new BatchOptions { NodeName = new string('n', 200) }));

        var result = Assert.Single(Validate(new BatchOptions { NodeName = new string('n', 201) }));

        Assert.Equal("Batch:NodeName must be at most 200 characters: run history and Quartz's cluster tables store it in 200.", result.ErrorMessage);
    }

    [Theory]
    [InlineData("node-a")]
    // Unset: the host name and the process id, here the test's own process.
    [InlineData(null)]
    public async Task The_nodes_table_names_a_node_as_its_runs_attempts_and_partitions_do(string? nodeName)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Batch:Clustered"] = "true", ["Batch:NodeName"] = nodeName, ["Batch:PartitionSize"] = "3",
        });
        // Quartz dates a partition's trigger by the real clock and fires it by the server's: they must agree.
        app.Time.Now = DateTimeOffset.UtcNow;
        app.Time.StartTicking();
        var client = app.CreateClient();
        var expected = nodeName ?? $"{Environment.MachineName}:{Environment.ProcessId}";
        var day = app.Services.GetRequiredService<BatchCalendar>().Today;
        await app.AddActiveUsersAsync(7, day.AddDays(-1), 1_000_000);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<BatchJobs>().Find(AssetRefreshJob.Name).RunnerIn(scope.ServiceProvider)
                .RunDueDaysAsync(day, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        }
        BatchRun? run = null;
        await Eventually.UntilAsync(async () =>
        {
            await using var db = database.CreateContext();
            run = await db.BatchRuns.AsNoTracking().SingleAsync(r => r.JobName == AssetRefreshJob.Name && r.Day == day);
            return run.Status != BatchRunStatus.Running;
        }, TimeSpan.FromSeconds(60));
        Assert.Equal(BatchRunStatus.Completed, run!.Status);

        await using var check = app.Services.CreateAsyncScope();
        var nodes = await check.ServiceProvider.GetRequiredService<ConsoleReader>().NodesAsync(CancellationToken.None);
        var db2 = check.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        var partitionNodes = await db2.BatchRunPartitions.AsNoTracking().Where(p => p.RunId == run.Id).Select(p => p.Node).Distinct().ToListAsync();
        var attemptNodes = await db2.BatchRunAttempts.AsNoTracking().Where(a => a.RunId == run.Id).Select(a => a.Node).Distinct().ToListAsync();
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();

        Assert.Equal([expected], nodes.Select(n => n.Name));
        Assert.Equal([expected], partitionNodes);
        Assert.Equal([expected], attemptNodes);
        Assert.Equal(expected, run.Nodes);
        Assert.Equal(expected, scheduler.SchedulerInstanceId);
        // Health names it so too.
        var ready = await client.GetStringAsync("/health/ready");
        Assert.Contains($"This node ({expected})", ready, StringComparison.Ordinal);
        Assert.Contains($"Running on node {expected}.", ready, StringComparison.Ordinal);
    }
}
