using System.Text.Json;
using DontGoBack.CoreServer.Batch.History;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>The third batch, added through the engine alone: its run lets the old months go and records what it did.</summary>
public sealed class HistoryMaintenanceJobTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_maintenance_run_rolls_up_the_old_months_and_records_what_it_let_go_and_a_second_run_finds_nothing(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        var history = await RolledHistory.SeedAsync(app);
        var expected = await RolledHistory.ExpectedAsync(app, history);
        var client = app.CreateClient();
        var path = $"/internal/batch/{HistoryMaintenanceJob.Name}/runs?day={RolledHistory.Today:yyyy-MM-dd}";

        var first = await RefreshRuns.ResultOfAsync(await client.PostAsync(path, null));

        Assert.Equal((BatchRunStatus.Completed, 1, 1), (first.Status, first.Total, first.Success));
        // On PostgreSQL the run also created August to October's partitions (the months of 2025 had none: they were in the default).
        var created = provider == DatabaseProvider.Postgres ? 6 : 0;
        Assert.Equal(new HistoryMaintenanceCounters(RolledHistory.ClosedMonths.Length, expected.Rollups.Count, (int)expected.SnapshotsDeleted, (int)expected.ChangesDeleted, created),
            first.Counters.As<HistoryMaintenanceCounters>());
        await RolledHistory.AssertEndStateAsync(app, expected);
        await database.AssertChainHoldsAsync();
        // The run history carries the counters, in the job's words.
        using (var runs = JsonDocument.Parse(await client.GetStringAsync($"/internal/batch/runs?job={HistoryMaintenanceJob.Name}")))
        {
            var run = Assert.Single(runs.RootElement.EnumerateArray());
            Assert.Equal(RolledHistory.Today.ToString("yyyy-MM-dd"), run.GetProperty("day").GetString());
            Assert.Equal(5, run.GetProperty("counters").GetProperty("monthsRolledUp").GetInt32());
        }
        Assert.Equal($"rolled up 5 months into {expected.Rollups.Count} roll-ups, deleted {expected.SnapshotsDeleted} snapshots and {expected.ChangesDeleted} changes"
            + (created > 0 ? $", created {created} partitions ahead" : ""),
            HistoryMaintenanceJob.Definition.Describe(first.Counters));

        var again = await RefreshRuns.ResultOfAsync(await client.PostAsync(path, null));

        Assert.Equal((BatchRunStatus.Completed, 1), (again.Status, again.Success));
        Assert.Equal(new HistoryMaintenanceCounters(0, 0, 0, 0), again.Counters.As<HistoryMaintenanceCounters>());
        Assert.Null(HistoryMaintenanceJob.Definition.Describe(again.Counters));
        await RolledHistory.AssertEndStateAsync(app, expected);
    }
}
