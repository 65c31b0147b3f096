using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The CLI tells the day's true story: `runs` shows each day over all its attempts (`--attempts` each
/// attempt), a retry with nothing to retry says so and records nothing, and a back-fill of days before
/// every account opened fills nothing and records them as nothing to do.
/// </summary>
public sealed class DayViewCliTests : IDisposable
{
    private static readonly TimeZoneInfo Seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
    private readonly string _workingDirectory = Directory.CreateTempSubdirectory("dontgoback-cli-").FullName;

    public void Dispose() => Directory.Delete(_workingDirectory, recursive: true);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Runs_shows_a_day_run_twice_as_what_it_wrote_and_attempts_lists_each_attempt(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = Settings(database);
        settings["DemoData:UsersOnEmptyDatabase"] = "20";
        for (var step = 0; step < 2; step++)
        {
            var ran = await CoreServerProcess.RunAsync(settings, ["refresh"], _workingDirectory);
            Assert.True(ran.ExitCode == 0, ran.Output);
        }
        var today = TestCalendar.Seoul.Today;
        int written;
        List<BatchRunAttempt> attempts;
        await using (var db = database.CreateContext())
        {
            written = await db.DailyAssetSnapshots.CountAsync(s => s.SnapshotDay == today);
            attempts = await db.BatchRunAttempts.AsNoTracking().OrderBy(a => a.Attempt).ToListAsync();
        }
        Assert.True(written > 0);
        // The second attempt found the day done: it alone would read "0 written".
        Assert.Equal([(written, 0), (0, written)], attempts.Select(a => (a.Success, a.Skipped)));

        var table = await CoreServerProcess.RunAsync(settings, ["runs"], _workingDirectory);
        Assert.True(table.ExitCode == 0, table.Output);
        var day = Assert.Single(Rows(table.StandardOutput));
        Assert.Equal(($"{today:yyyy-MM-dd}", "completed", "2"), (day["day"], day["status"], day["attempts"]));
        Assert.Equal(($"{written}", $"{written}", "0", "0", "0"), (day["total"], day["written"], day["already done"], day["not due"], day["failed now"]));
        // The day's first start and last finish, in the batch zone and labelled as every CLI time is.
        var zone = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
        Assert.Equal(ZoneLabel.Format(attempts[0].StartedAt, zone), day["started (Asia/Seoul)"]);
        Assert.Equal(ZoneLabel.Format(attempts[1].FinishedAt!.Value, zone), day["finished (Asia/Seoul)"]);
        Assert.Matches(@"^\d+\.\d s$", day["working"]);

        var each = await CoreServerProcess.RunAsync(settings, ["runs", "--attempts"], _workingDirectory);
        Assert.True(each.ExitCode == 0, each.Output);
        var rows = Rows(each.StandardOutput);
        Assert.Equal(["1", "2"], rows.Select(r => r["attempt"]));
        Assert.Equal([($"{written}", "0"), ("0", $"{written}")], rows.Select(r => (r["success"], r["skipped"])));
        // The second found every user done: it says so, and its work to do was none.
        Assert.Equal([("completed", $"{written}"), ("completed (nothing to do)", "0")], rows.Select(r => (r["status"], r["to do"])));

        // The JSON is `runs --json`'s list, each run with its attempts beside it.
        var attemptsJson = await CoreServerProcess.RunAsync(settings, ["runs", "--attempts", "--json"], _workingDirectory);
        Assert.True(attemptsJson.ExitCode == 0, attemptsJson.Output);
        using var withAttempts = JsonDocument.Parse(Assert.Single(attemptsJson.StandardOutput));
        var run = Assert.Single(withAttempts.RootElement.EnumerateArray());
        var dayView = run.GetProperty("run").GetProperty("dayView");
        Assert.Equal((written, 0, 2), (dayView.GetProperty("written").GetInt32(), dayView.GetProperty("failedNow").GetInt32(), dayView.GetProperty("attempts").GetInt32()));
        Assert.Equal(attempts[0].StartedAt, dayView.GetProperty("firstStartedAt").GetDateTimeOffset());
        Assert.Equal([written, 0], run.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("success").GetInt32()));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Retry_failed_with_nothing_failed_or_unreached_says_so_exits_0_and_records_no_attempt(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = Settings(database);
        settings["DemoData:UsersOnEmptyDatabase"] = "20";
        var refresh = await CoreServerProcess.RunAsync(settings, ["refresh"], _workingDirectory);
        Assert.True(refresh.ExitCode == 0, refresh.Output);
        var today = TestCalendar.Seoul.Today;
        Assert.Equal((1, 1), await AttemptsAsync(database));

        var retry = await CoreServerProcess.RunAsync(settings, ["retry-failed", "--day", $"{today:yyyy-MM-dd}"], _workingDirectory);

        Assert.True(retry.ExitCode == 0, retry.Output);
        Assert.Contains(retry.StandardOutput, line => line.StartsWith($"Asset refresh {today:yyyy-MM-dd}: nothing to retry: asset refresh run ", StringComparison.Ordinal)
                                                      && line.EndsWith("is completed, with no failed or unreached active users.", StringComparison.Ordinal));
        // The command did reach the day (it read the run above), and added no attempt to it.
        Assert.Equal((1, 1), await AttemptsAsync(database));

        // A day that does owe a user (one active user without the day, as a failed one is) is retried as before.
        await using (var db = database.CreateContext())
        {
            var owed = await db.Users.Where(u => u.Status == AccountStatus.Active).OrderBy(u => u.Id).Select(u => u.Id).FirstAsync();
            await db.Users.Where(u => u.Id == owed).ExecuteUpdateAsync(set => set.SetProperty(u => u.CurrentSnapshotId, (long?)null).SetProperty(u => u.CurrentSnapshotDay, (DateOnly?)null));
            await db.DailyAssetSnapshots.Where(s => s.UserId == owed && s.SnapshotDay == today).ExecuteDeleteAsync();
        }
        var owedRetry = await CoreServerProcess.RunAsync(settings, ["retry-failed", "--day", $"{today:yyyy-MM-dd}"], _workingDirectory);
        Assert.True(owedRetry.ExitCode == 0, owedRetry.Output);
        Assert.Contains(owedRetry.StandardOutput, line => line.Contains(": completed — total") && line.Contains("success 1,"));
        Assert.Equal((2, 2), await AttemptsAsync(database));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Backfill_of_days_before_every_account_opened_says_nothing_to_fill_and_records_nothing_to_do(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = Settings(database);
        // The demo users open yesterday: of three days back, the two before it had nobody due.
        var seed = await CoreServerProcess.RunAsync(settings, ["seed", "--users", "20"], _workingDirectory);
        Assert.True(seed.ExitCode == 0, seed.Output);
        var today = TestCalendar.Seoul.Today;
        int active;
        await using (var db = database.CreateContext())
            active = await db.Users.CountAsync(u => u.Status == AccountStatus.Active);

        var backfill = await CoreServerProcess.RunAsync(settings, ["backfill", "--days", "3"], _workingDirectory);

        Assert.True(backfill.ExitCode == 0, backfill.Output);
        foreach (var day in new[] { today.AddDays(-3), today.AddDays(-2) })
            Assert.Contains($"{day:yyyy-MM-dd} users all: nothing to fill, all {active} opened later (not due)", backfill.StandardOutput);
        Assert.Contains(backfill.StandardOutput, line => line.StartsWith($"{today.AddDays(-1):yyyy-MM-dd} users all: completed,", StringComparison.Ordinal));
        await using (var db = database.CreateContext())
        {
            var statuses = await db.BatchRuns.AsNoTracking().Where(r => r.JobName == AssetRefreshJob.Name).OrderBy(r => r.Day)
                .Select(r => new { r.Day, r.Status }).ToListAsync();
            Assert.Equal([(today.AddDays(-3), BatchRunStatus.NothingToDo), (today.AddDays(-2), BatchRunStatus.NothingToDo), (today.AddDays(-1), BatchRunStatus.Completed)],
                statuses.Select(s => (s.Day, s.Status)));
            Assert.Equal(0, await db.DailyAssetSnapshots.CountAsync(s => s.SnapshotDay < today.AddDays(-1)));
        }
        var runs = await CoreServerProcess.RunAsync(settings, ["runs"], _workingDirectory);
        Assert.True(runs.ExitCode == 0, runs.Output);
        Assert.Equal(["completed", "nothing_to_do", "nothing_to_do"], Rows(runs.StandardOutput).Select(r => r["status"]));
        Assert.All(Rows(runs.StandardOutput).Skip(1), r => Assert.Equal(($"{active}", "0"), (r["not due"], r["written"])));
    }

    /// <summary>The attempts recorded for the asset refresh, as rows and as the run's own count.</summary>
    private static async Task<(int Rows, int Attempts)> AttemptsAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        var run = await db.BatchRuns.AsNoTracking().SingleAsync(r => r.JobName == AssetRefreshJob.Name);
        return (await db.BatchRunAttempts.CountAsync(a => a.RunId == run.Id), run.Attempts);
    }

    /// <summary>A markdown table's rows, each cell by its column's header.</summary>
    private static List<Dictionary<string, string>> Rows(IReadOnlyList<string> lines)
    {
        static string[] Cells(string line) => line.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();
        var start = lines.ToList().FindIndex(l => l.StartsWith("| id |", StringComparison.Ordinal));
        Assert.True(start >= 0, string.Join('\n', lines));
        var header = Cells(lines[start]);
        return lines.Skip(start + 2).TakeWhile(l => l.StartsWith('|'))
            .Select(l => header.Zip(Cells(l)).ToDictionary(p => p.First, p => p.Second)).ToList();
    }

    private static Dictionary<string, string?> Settings(TestDatabase database) => new()
    {
        ["Database:Provider"] = database.Provider.ToString(),
        ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
    };
}
