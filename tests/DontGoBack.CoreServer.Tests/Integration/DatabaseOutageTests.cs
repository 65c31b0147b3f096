using System.Net;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The database goes away in the middle of a run: the tests stop and start a PostgreSQL server
/// of this class's own, so the server the other tests share is never touched.
/// </summary>
public sealed class DatabaseOutageTests(OwnPostgresServer server, ITestOutputHelper output) : IClassFixture<OwnPostgresServer>
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private const int Users = 40;

    /// <summary>Long enough for a held extension call to wait for the test instead of timing out.</summary>
    private const string HeldCallTimeout = "00:01:00";

    [Fact]
    public async Task The_profile_graph_answers_503_while_the_database_is_down_and_reads_again_after()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, server.AdminConnectionString);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            // Every request reads the database, and the read pool's sessions (not reset on reuse) meet the restart.
            ["SeriesCache:Enabled"] = "false",
            ["PublicRateLimit:Enabled"] = "false",
        });
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day, 1));
        var path = $"/api/users/{user}/asset-series?to={Day:yyyy-MM-dd}";
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(path)).StatusCode);

        await using (var outage = await server.StopAsync())
        {
            var down = await client.GetAsync(path);

            Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(5), down.Headers.RetryAfter?.Delta);
            Assert.Contains("Database unavailable", await down.Content.ReadAsStringAsync());
            await outage.EndAsync();
        }

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(path)).StatusCode);
        Assert.DoesNotContain(app.Logs.Entries, e => e.Message.StartsWith("Unhandled error answering"));
    }

    [Fact]
    public async Task A_restart_during_a_run_is_carried_by_retries_and_the_day_has_one_snapshot_per_active_user()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, server.AdminConnectionString);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Database:RetryTimeout"] = "00:00:30",
            ["Batch:RecordOutcomeTimeout"] = "00:00:30",
            ["Extension:AttemptTimeout"] = HeldCallTimeout,
            ["Extension:UserDeadline"] = HeldCallTimeout,
        });
        var client = app.CreateClient();
        var users = await StartRunWithLastUserHeldAsync(app);
        var trigger = client.PostAsync($"{RefreshRuns.Path}?day={Day:yyyy-MM-dd}", null);
        await EveryUserButTheHeldOneWrittenAsync(app);

        await using var outage = await server.StopAsync();
        // Its answer arrives while the server is down, so writing it fails and is retried.
        app.Extension.ReleaseBlocked();
        await app.Logs.WaitForAsync(e => e.Message.StartsWith("Database unavailable during chunk write"), TimeSpan.FromSeconds(20));
        Assert.False(trigger.IsCompleted);
        await outage.EndAsync();
        ForgetPooledConnections(database);

        var response = await trigger;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await RefreshRuns.ResultOfAsync(response);
        Assert.Equal((BatchRunStatus.Completed, Users, Users, 0, 0, 1), (result.Status, result.Total, result.Success, result.Skipped, result.Failed, result.Attempt));
        Assert.Equal(BatchRunStatus.Completed, (await RunOfDayAsync(database)).Status);
        await AssertOneSnapshotPerActiveUserAsync(database, users);

        // A re-run is a continuation: nobody is asked again and nothing is written twice.
        var calls = app.Extension.TotalCalls;
        var rerun = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.Completed, Users, 0, Users, 2), (rerun.Status, rerun.Total, rerun.Success, rerun.Skipped, rerun.Attempt));
        Assert.Equal(calls, app.Extension.TotalCalls);
        await AssertOneSnapshotPerActiveUserAsync(database, users);
        await database.AssertChainHoldsAsync();
    }

    [Fact]
    public async Task A_database_down_past_the_retries_fails_the_run_cleanly_and_the_next_trigger_takes_the_day_over()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, server.AdminConnectionString);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Database:RetryTimeout"] = "00:00:01",
            ["Batch:RecordOutcomeTimeout"] = "00:00:01",
            ["Batch:LeaseTimeout"] = "00:00:05",
            ["Extension:AttemptTimeout"] = HeldCallTimeout,
            ["Extension:UserDeadline"] = HeldCallTimeout,
        });
        var client = app.CreateClient();
        var users = await StartRunWithLastUserHeldAsync(app);
        var trigger = client.PostAsync($"{RefreshRuns.Path}?day={Day:yyyy-MM-dd}", null);
        await EveryUserButTheHeldOneWrittenAsync(app);

        await using var outage = await server.StopAsync();
        app.Extension.ReleaseBlocked();
        var response = await trigger;

        // Not a 500 and not an exception: a 503 problem carrying the failed result.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var failed = await RefreshRuns.ResultOfAsync(response);
        Assert.Equal((BatchRunStatus.Failed, Users, Users - 1, 1), (failed.Status, failed.Total, failed.Success, failed.Attempt));
        Assert.StartsWith("database unavailable: ", failed.Error);
        Assert.Contains("its outcome could not be recorded", failed.Error);
        Assert.Contains(app.Logs.Entries, e => e.Message.StartsWith("Database unavailable during chunk write"));
        Assert.Contains(app.Logs.Entries, e => e.Message.StartsWith($"Could not record the outcome (Failed) of asset refresh run {failed.RunId}"));

        // Still down: the day cannot even be claimed, and says so the same way.
        var notStarted = await client.PostAsync($"{RefreshRuns.Path}?day={Day:yyyy-MM-dd}", null);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notStarted.StatusCode);
        var refused = await RefreshRuns.ResultOfAsync(notStarted);
        Assert.Equal((BatchRunStatus.Failed, 0, (long?)null), (refused.Status, refused.Total, refused.RunId));
        Assert.StartsWith("database unavailable: ", refused.Error);

        await outage.EndAsync();
        ForgetPooledConnections(database);
        // Nothing could be recorded while the server was down: the run holds its lease until it goes stale.
        var stranded = await RunOfDayAsync(database);
        Assert.Equal((BatchRunStatus.Running, 1), (stranded.Status, stranded.Attempts));
        Assert.Equal(HttpStatusCode.Conflict, (await client.PostAsync($"{RefreshRuns.Path}?day={Day:yyyy-MM-dd}", null)).StatusCode);

        app.Time.Now += TimeSpan.FromSeconds(6);
        var takenOver = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.Completed, Users, 1, Users - 1, 2), (takenOver.Status, takenOver.Total, takenOver.Success, takenOver.Skipped, takenOver.Attempt));
        Assert.Equal(BatchRunStatus.Completed, (await RunOfDayAsync(database)).Status);
        await AssertOneSnapshotPerActiveUserAsync(database, users);
        await database.AssertChainHoldsAsync();
    }

    [Fact]
    public async Task The_cli_prints_a_failed_result_and_exits_1_when_the_database_goes_away_and_a_second_run_finishes_the_day()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres, server.AdminConnectionString);
        // Slow answers, so the run is still going when the server stops.
        await using var standIn = await StandInServer.StartAsync(new Dictionary<string, string?> { ["Simulator:AddedLatencyMs"] = "100" });
        List<long> users;
        await using (var setup = new CoreServerApp(database))
        {
            setup.CreateClient();
            users = await setup.AddActiveUsersAsync(100, Day.AddDays(-1), 1_000_000);
        }
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = "Postgres",
            ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
            ["Database:RetryTimeout"] = "00:00:01",
            ["Batch:RecordOutcomeTimeout"] = "00:00:01",
            // Shorter than the two retry budgets the first run spends after the server stopped, so
            // its lease is stale by the time the second run starts.
            ["Batch:LeaseTimeout"] = "00:00:02",
            ["AssetRefresh:MaxConcurrency"] = "4",
            ["AssetRefresh:WriteChunkSize"] = "5",
            ["Extension:BaseUrl"] = standIn.Url,
            ["Auth:BaseUrl"] = standIn.Url,
            ["Auth:ClientSecret"] = StandInServer.ClientSecret,
        };

        await using (var first = CoreServerProcess.Start(settings, ["refresh", "--day", $"{Day:yyyy-MM-dd}", "--json"]))
        {
            output.WriteLine($"{clock.Elapsed}: first run started");
            await Eventually.UntilAsync(async () => await SnapshotsOfDayAsync(database) >= 10, TimeSpan.FromSeconds(60));
            output.WriteLine($"{clock.Elapsed}: stopping the server");
            await using var outage = await server.StopAsync();

            Assert.Equal(1, await first.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            output.WriteLine($"{clock.Elapsed}: first run exited\n{first.Output}");
            using var line = JsonDocument.Parse(first.StandardOutput[^1]);
            Assert.Equal("failed", line.RootElement.GetProperty("status").GetString());
            Assert.StartsWith("database unavailable: ", line.RootElement.GetProperty("error").GetString());
            Assert.True(line.RootElement.GetProperty("success").GetInt32() is > 0 and < 100, first.Output);
            Assert.DoesNotContain("Unhandled exception", first.Output);
            Assert.DoesNotContain("   at ", first.Output);
            await outage.EndAsync();
        }

        ForgetPooledConnections(database);
        await using var second = CoreServerProcess.Start(settings, ["refresh", "--day", $"{Day:yyyy-MM-dd}", "--json"]);
        Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        output.WriteLine($"{clock.Elapsed}: second run exited");
        using (var line = JsonDocument.Parse(second.StandardOutput[^1]))
        {
            Assert.Equal(("completed", 100, 2), (line.RootElement.GetProperty("status").GetString(),
                line.RootElement.GetProperty("total").GetInt32(), line.RootElement.GetProperty("attempt").GetInt32()));
        }
        await AssertOneSnapshotPerActiveUserAsync(database, users);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_chunk_whose_commit_landed_but_whose_answer_was_lost_is_written_again_without_a_second_count(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        app.CreateClient();
        var users = await app.AddActiveUsersAsync(5, Day.AddDays(-1), 1_000_000);
        // Users 3 and 4 failed once before today; this chunk fails them again.
        var earlier = CoreServerApp.DefaultNow.AddHours(-1);
        var retry = app.Services.GetRequiredService<DatabaseRetry>();
        AssetRefreshStore store = provider == DatabaseProvider.Sqlite
            ? new AnswerLostSqliteStore(app.Services.GetRequiredService<SqliteDatabase>(), retry)
            : new AnswerLostPostgresStore(app.Services.GetRequiredService<NpgsqlDataSource>(), retry);
        await store.WriteChunkAsync(Day, [], [Failure(users[3]), Failure(users[4])], earlier, CancellationToken.None);

        var written = await store.WriteChunkAsync(Day,
            users.Take(3).Select(id => new RefreshedAsset(id, 1_000_000, 1.01)).ToList(),
            [Failure(users[3]), Failure(users[4])], CoreServerApp.DefaultNow, CancellationToken.None);

        // Each call committed, lost its answer and was run again.
        Assert.Equal(2, app.Logs.Entries.Count(e => e.Message.StartsWith("Database unavailable during chunk write (try 1)")));
        Assert.Equal(new ChunkWriteResult(3, 0, 2), written);
        foreach (var id in users.Take(3))
            Assert.Single(await app.SnapshotsOfAsync(id), s => s.SnapshotDay == Day);
        Assert.Equal([2, 2], (await app.FailuresAsync(Day)).Select(f => f.Attempts));
        var marketMoves = 0;
        foreach (var id in users.Take(3))
            marketMoves += (await app.ChangesOfAsync(id)).Count(c => c.SnapshotDay == Day && c.Kind == AssetChangeKind.Market);
        Assert.Equal(3, marketMoves);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_database_error_that_is_not_transient_fails_the_run_on_record_instead_of_a_500(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        await app.AddActiveUsersAsync(3, Day.AddDays(-1), 1_000_000);
        await using (var db = database.CreateContext())
            await db.Database.ExecuteSqlRawAsync("ALTER TABLE daily_asset_snapshots RENAME TO snapshots_away");

        var response = await client.PostAsync($"{RefreshRuns.Path}?day={Day:yyyy-MM-dd}", null);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var result = await RefreshRuns.ResultOfAsync(response);
        Assert.Equal(BatchRunStatus.Failed, result.Status);
        Assert.StartsWith("database error: ", result.Error);
        // Not retried: a missing table does not come back by itself.
        Assert.DoesNotContain(app.Logs.Entries, e => e.Message.StartsWith("Database unavailable during"));
        var run = await RunOfDayAsync(database);
        Assert.Equal((BatchRunStatus.Failed, result.Error), (run.Status, run.Error));
    }

    private static RefreshFailure Failure(long userId) => new(userId, FailureClass.Permanent, "asset must be >= 0");

    /// <summary>The first try of each chunk commits, then fails as if the connection dropped before the answer came back.</summary>
    private sealed class AnswerLostSqliteStore(SqliteDatabase database, DatabaseRetry retry) : SqliteAssetRefreshStore(database, retry)
    {
        private int _tries;

        protected override async Task<ChunkWriteResult> WriteChunkOnceAsync(
            DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyList<RefreshFailure> failures,
            DateTimeOffset changedAt, ChunkTries tries, CancellationToken cancellationToken)
        {
            var result = await base.WriteChunkOnceAsync(day, refreshed, failures, changedAt, tries, cancellationToken);
            if (++_tries % 2 == 1)
                throw new SqliteException("database is locked", 5);
            return result;
        }
    }

    /// <inheritdoc cref="AnswerLostSqliteStore"/>
    private sealed class AnswerLostPostgresStore(NpgsqlDataSource dataSource, DatabaseRetry retry) : PostgresAssetRefreshStore(dataSource, retry)
    {
        private int _tries;

        protected override async Task<ChunkWriteResult> WriteChunkOnceAsync(
            DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyList<RefreshFailure> failures,
            DateTimeOffset changedAt, ChunkTries tries, CancellationToken cancellationToken)
        {
            var result = await base.WriteChunkOnceAsync(day, refreshed, failures, changedAt, tries, cancellationToken);
            if (++_tries % 2 == 1)
                throw new NpgsqlException("Exception while reading from stream", new IOException("connection reset"));
            return result;
        }
    }

    /// <returns>The users; the last one's call is held until <see cref="FakeExtensionServer.ReleaseBlocked"/>.</returns>
    private static async Task<List<long>> StartRunWithLastUserHeldAsync(CoreServerApp app)
    {
        var users = await app.AddActiveUsersAsync(Users, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.Block, users[^1]);
        return users;
    }

    /// <summary>The run is under way: every user but the held one has the day's snapshot.</summary>
    private static async Task EveryUserButTheHeldOneWrittenAsync(CoreServerApp app)
    {
        await app.Extension.BlockedCallArrived.WaitAsync(TimeSpan.FromSeconds(20));
        await Eventually.UntilAsync(async () => await SnapshotsOfDayAsync(app.Database) == Users - 1, TimeSpan.FromSeconds(20));
    }

    /// <summary>The test's own idle connections died with the server; the server under test copes by itself.</summary>
    private static void ForgetPooledConnections(TestDatabase database)
    {
        using var connection = new NpgsqlConnection(database.ConnectionString);
        NpgsqlConnection.ClearPool(connection);
    }

    private static async Task<int> SnapshotsOfDayAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        return await db.DailyAssetSnapshots.CountAsync(s => s.SnapshotDay == Day);
    }

    private static async Task<BatchRun> RunOfDayAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        return await db.BatchRuns.AsNoTracking().SingleAsync(r => r.JobName == AssetRefreshJob.Name && r.Day == Day);
    }

    private static async Task AssertOneSnapshotPerActiveUserAsync(TestDatabase database, List<long> users)
    {
        await using var db = database.CreateContext();
        var refreshed = await db.DailyAssetSnapshots.Where(s => s.SnapshotDay == Day).Select(s => s.UserId).ToListAsync();
        var active = await db.Users.Where(u => u.Status == AccountStatus.Active).Select(u => u.Id).ToListAsync();
        Assert.Equal(users.Order(), active.Order());
        Assert.Equal(active.Order(), refreshed.Order());
    }
}
