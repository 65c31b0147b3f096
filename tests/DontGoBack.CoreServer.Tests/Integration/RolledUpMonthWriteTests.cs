using System.Net;
using System.Net.Http.Json;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.CoreServer.Batch.Asset.Job;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>No write lands in a month already rolled up: its roll-up would no longer say what its days did (issue 27).</summary>
public sealed class RolledUpMonthWriteTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_trigger_of_a_day_in_a_rolled_up_month_is_a_409_naming_the_reason_audited_once_with_no_run_and_no_extension_call(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        var client = app.CreateClient();
        var history = await RolledHistory.SeedAsync(app);
        await RolledHistory.RunLifecycleAsync(app);
        var calls = app.Extension.TotalCalls;
        var rollups = await RollupsAsync(database);
        var (runsBefore, auditBefore) = await CountRunsAndAuditAsync(database);

        // A back-fill of a day the active users lack, in rolled-up April: the caller's mistake, not an outage.
        var refused = await client.PostAsync("/internal/batch/asset-refresh/runs?day=2025-04-15&reason=late%20back-fill", null);

        var problem = await refused.AssertProblemAsync(HttpStatusCode.Conflict, "2025-04-15 is in 2025-04, which has been rolled up");
        Assert.Equal("Day not runnable", problem.Title);
        Assert.Contains("History:KeepDailyMonths", problem.Detail);
        Assert.Equal(calls, app.Extension.TotalCalls);
        Assert.Equal(rollups, await RollupsAsync(database));
        foreach (var user in history.Active)
            Assert.DoesNotContain(await app.SnapshotsOfAsync(user), s => s.SnapshotDay == new DateOnly(2025, 4, 15));
        // Nothing recorded for the day; one audit row, refused with the job's reason.
        await using (var db = database.CreateContext())
        {
            Assert.False(await db.Set<BatchRun>().AnyAsync(r => r.Day == new DateOnly(2025, 4, 15)));
            Assert.Equal(runsBefore, await db.Set<BatchRun>().CountAsync());
            Assert.Equal(auditBefore + 1, await db.Set<OperatorAction>().CountAsync());
            var audit = await db.Set<OperatorAction>().AsNoTracking().OrderByDescending(a => a.Id).FirstAsync();
            Assert.Equal((OperatorActionKind.Trigger, OperatorActionOutcome.Refused, new DateOnly(2025, 4, 15), "late back-fill"),
                (audit.Action, audit.Outcome, audit.Day, audit.Reason));
            Assert.Contains("has been rolled up", audit.Detail);
            Assert.Equal(audit.Id, ((System.Text.Json.JsonElement)problem.Extensions["auditId"]!).GetInt64());
        }

        // A day before every rolled-up month would re-base them: refused the same way, naming the month it reaches.
        var rebasing = await client.PostAsync("/internal/batch/asset-refresh/runs?day=2025-02-20", null);
        await rebasing.AssertProblemAsync(HttpStatusCode.Conflict, "2025-02-20 would re-base the days of 2025-03");
        Assert.Equal(calls, app.Extension.TotalCalls);
        Assert.Equal(runsBefore, (await CountRunsAndAuditAsync(database)).Runs);

        // The days kept daily are written as ever, re-bases among them included.
        var kept = await client.RunDayAsync(new DateOnly(2025, 6, 20));
        Assert.Equal((BatchRunStatus.Completed, 3), (kept.Status, kept.Success));
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_scheduled_fire_of_a_day_in_a_rolled_up_month_records_nothing_and_logs_the_reason_once(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        await RolledHistory.SeedAsync(app);
        await RolledHistory.RunLifecycleAsync(app);
        var calls = app.Extension.TotalCalls;
        var (runsBefore, _) = await CountRunsAndAuditAsync(database);
        // A fire for a day of rolled-up April (a clock set back): every day it owes lies in April, rolled up.
        var fired = new DateOnly(2025, 4, 16);
        app.Time.Now = new DateTimeOffset(2025, 4, 16, 3, 30, 0, TimeSpan.FromHours(9));

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var results = await scope.ServiceProvider.GetRequiredService<DailyJobRunner<AssetRefreshJob>>().RunDueDaysAsync(fired, CancellationToken.None);
            Assert.Empty(results);
        }

        // The fire went through its owed days (the day fired among them) and refused each, its reason logged once.
        var logged = app.Logs.Entries.Where(e => e.Message.Contains($"due day {fired:yyyy-MM-dd} was not run")).ToList();
        var line = Assert.Single(logged);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.Contains("2025-04-16 is in 2025-04, which has been rolled up", line.Message);
        Assert.Equal(calls, app.Extension.TotalCalls);
        Assert.Equal(runsBefore, (await CountRunsAndAuditAsync(database)).Runs);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_cli_refresh_of_a_day_in_a_rolled_up_month_prints_the_reason_exits_2_and_records_no_run(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using (var app = new CoreServerApp(database, RolledHistory.Settings))
        {
            await RolledHistory.SeedAsync(app);
            await RolledHistory.RunLifecycleAsync(app);
        }
        var (runsBefore, _) = await CountRunsAndAuditAsync(database);
        var workingDirectory = Directory.CreateTempSubdirectory("dontgoback-rolled-cli-").FullName;
        try
        {
            var settings = new Dictionary<string, string?>(RolledHistory.Settings)
            {
                ["Database:Provider"] = database.Provider.ToString(),
                ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
            };

            var cli = await CoreServerProcess.RunAsync(settings, ["refresh", "--day", "2025-04-15", "--json"], workingDirectory);

            Assert.True(cli.ExitCode == 2, cli.Output);
            Assert.Empty(cli.StandardOutput);
            var line = Assert.Single(cli.StandardError, l => l.Contains("2025-04-15 is in 2025-04, which has been rolled up"));
            Assert.Contains("History:KeepDailyMonths", line);
            await using var db = database.CreateContext();
            Assert.Equal(runsBefore, await db.Set<BatchRun>().CountAsync());
            Assert.False(await db.Set<BatchRun>().AnyAsync(r => r.Day == new DateOnly(2025, 4, 15)));
        }
        finally
        {
            Directory.Delete(workingDirectory, recursive: true);
        }
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_adjustment_landing_in_a_rolled_up_month_is_a_409_problem_naming_the_month_and_the_setting(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        var client = app.CreateClient();
        var history = await RolledHistory.SeedAsync(app);
        await RolledHistory.RunLifecycleAsync(app);
        var before = await app.SnapshotsOfAsync(history.Dormant);

        // The dormant user's balance is the April snapshot its pointer kept: April is rolled up.
        var response = await client.PostAsJsonAsync($"/internal/users/{history.Dormant}/asset-adjustments",
            new { amount = 5_000, reason = "late reward", idempotencyKey = "late" });

        var problem = await response.AssertProblemAsync(HttpStatusCode.Conflict, "2025-04-07 is in 2025-04, which has been rolled up");
        Assert.Contains("History:KeepDailyMonths", problem.Detail);
        Assert.Equal(before.Select(s => (s.Id, s.ClosingAmount, s.NetFlow)), (await app.SnapshotsOfAsync(history.Dormant)).Select(s => (s.Id, s.ClosingAmount, s.NetFlow)));
        Assert.DoesNotContain(await app.ChangesOfAsync(history.Dormant), c => c.IdempotencyKey == "late");

        // A user whose balance is on a day kept daily is adjusted as ever.
        var kept = await client.PostAsJsonAsync($"/internal/users/{history.Active[0]}/asset-adjustments",
            new { amount = 5_000, reason = "reward", idempotencyKey = "kept" });
        Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
        await database.AssertChainHoldsAsync();
    }

    private static async Task<(int Runs, int Audit)> CountRunsAndAuditAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        return (await db.Set<BatchRun>().CountAsync(), await db.Set<OperatorAction>().CountAsync());
    }

    private static async Task<List<(long, DateOnly, long, long)>> RollupsAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        return (await db.AssetMonthRollups.AsNoTracking().OrderBy(r => r.UserId).ThenBy(r => r.Month).ToListAsync())
            .Select(r => (r.UserId, r.Month, r.ClosingAmount, r.NetFlow)).ToList();
    }
}
