using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The database answers but refuses writes. Read-only: PostgreSQL with
/// <c>default_transaction_read_only</c> on the database, SQLite opened <c>Mode=ReadOnly</c> (the tests
/// run as root, whom file permissions do not stop). Full: a small tmpfs of the test's own, filled up
/// (SQLite's file lives on it; PostgreSQL's database is moved into a tablespace on it, its WAL stays
/// in the data directory as on a server with a separate WAL volume).
/// </summary>
public sealed partial class DatabaseRefusesWritesTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task On_a_read_only_database_the_commands_that_read_work_and_a_refresh_fails_in_one_line(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using (var setup = new CoreServerApp(database))
        {
            setup.CreateClient();
            await setup.AddActiveUsersAsync(3, Day.AddDays(-1), 1_000_000);
        }
        var settings = await ReadOnlyAsync(database);

        await using (var runs = CoreServerProcess.Start(settings, ["runs", "--json"]))
        {
            Assert.True(await runs.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, runs.Output);
            Assert.Equal("[]", runs.StandardOutput[^1]);
        }
        await using (var verify = CoreServerProcess.Start(settings, ["verify"]))
        {
            Assert.True(await verify.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, verify.Output);
            Assert.StartsWith("0 breaks of the chain rule", verify.StandardOutput[^1]);
        }
        await using (var refresh = CoreServerProcess.Start(settings, ["refresh", "--day", $"{Day:yyyy-MM-dd}"]))
        {
            Assert.Equal(1, await refresh.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            var said = Assert.Single(refresh.StandardError, line => line.Contains("database read-only", StringComparison.Ordinal));
            Assert.StartsWith("refresh failed: database read-only, so nothing was done: ", said);
            Assert.DoesNotContain("   at ", refresh.Output);
            Assert.DoesNotContain(refresh.StandardError, line => line.StartsWith("fail:", StringComparison.Ordinal));
            Assert.Empty(refresh.StandardOutput);
        }
        await using var db = database.CreateContext();
        Assert.Equal(0, await db.BatchRuns.CountAsync());
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task On_a_read_only_database_whose_migrations_are_applied_the_server_starts_and_serves(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using (var setup = new CoreServerApp(database))
        {
            setup.CreateClient();
            await setup.AddActiveUsersAsync(3, Day.AddDays(-1), 1_000_000);
        }
        var settings = await ReadOnlyAsync(database);

        await using var server = CoreServerProcess.Start(settings, []);
        // Started: every hosted service's start went through (the console's address is logged after them).
        await Eventually.UntilAsync(() => Task.FromResult(server.Output.Contains("Operations console: ", StringComparison.Ordinal) || server.HasExited),
            TimeSpan.FromSeconds(60));
        Assert.False(server.HasExited, server.Output);
        // The start-up sweep of other tokens' console sessions met the read-only database, and said so in one line.
        Assert.Contains("sessions issued under another admin token could not be deleted (database read-only", server.Output);
        Assert.DoesNotContain("   at ", server.Output);
        var console = server.StandardOutput.Concat(server.StandardError).Select(line => ConsoleAddress().Match(line)).First(match => match.Success);
        using var client = new HttpClient { BaseAddress = new Uri(console.Groups["origin"].Value) };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
    }

    [GeneratedRegex(@"Operations console: (?<origin>http://[^/\s]+)/")]
    private static partial Regex ConsoleAddress();

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_read_only_database_with_migrations_pending_says_so_in_one_line(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        if (provider == DatabaseProvider.Sqlite)
        {
            // An empty database file, as a read-only one would be before the server ever ran on it.
            await using var create = new SqliteConnection(database.ConnectionString);
            await create.OpenAsync();
        }
        var settings = await ReadOnlyAsync(database);

        await using var runs = CoreServerProcess.Start(settings, ["runs"]);

        Assert.Equal(1, await runs.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var said = Assert.Single(runs.StandardError, line => line.Contains("database read-only", StringComparison.Ordinal));
        Assert.Matches(@"^runs failed: database read-only, so its \d+ pending migrations cannot be applied \(\d+_Initial", said);
        Assert.DoesNotContain("   at ", runs.Output);
        Assert.DoesNotContain(runs.StandardError, line => line.StartsWith("fail:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_full_disk_answers_adjustments_503_and_readiness_says_so_until_writes_go_through_again(DatabaseProvider provider)
    {
        await using var disk = await FullDisk.CreateAsync(provider);
        await using var app = new CoreServerApp(disk.Database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day, 1_000_000));
        var path = $"/internal/users/{user}/asset-adjustments";
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync(path, new { amount = 10, reason = "before" })).StatusCode);
        Assert.Equal(("Healthy", HttpStatusCode.OK), await DatabaseReadinessAsync(client));

        await disk.FillAsync();
        // PostgreSQL writes into free room of pages it has before it asks for more: take that room too.
        await disk.FillTableAsync("asset_changes",
            $"SELECT user_id, kind, amount_after, amount_after, 0, 'filler', snapshot_id, snapshot_day, changed_at FROM asset_changes WHERE user_id = {user} ORDER BY id DESC LIMIT 1",
            "user_id, kind, amount_before, amount_after, delta, reason, snapshot_id, snapshot_day, changed_at");
        var refused = await client.PostAsJsonAsync(path, new { amount = 20, reason = "disk full" });
        var again = await client.PostAsJsonAsync(path, new { amount = 30, reason = "still full" });

        Assert.Equal((HttpStatusCode.ServiceUnavailable, HttpStatusCode.ServiceUnavailable), (refused.StatusCode, again.StatusCode));
        Assert.Equal(TimeSpan.FromSeconds(60), refused.Headers.RetryAfter?.Delta);
        var problem = await refused.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "storage is full");
        Assert.Equal("Database refuses writes", problem.Title);
        Assert.Single(app.Logs.Entries, e => e.Level == LogLevel.Warning && e.Message.StartsWith("The database refuses writes (database storage full)"));
        // EF logs each failed commit itself; ours is the one warning above, no "unhandled error".
        Assert.DoesNotContain(app.Logs.Entries, e => e.Level >= LogLevel.Error && e.Category.StartsWith("DontGoBack", StringComparison.Ordinal));
        var (status, code, description) = await DatabaseCheckAsync(client);
        Assert.Equal(("Degraded", HttpStatusCode.OK), (status, code));
        Assert.Contains("the database refuses writes: storage full", description);

        disk.Free();
        Assert.Equal(("Healthy", HttpStatusCode.OK), await DatabaseReadinessAsync(client));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync(path, new { amount = 40, reason = "after" })).StatusCode);
        // Nothing of the refused adjustments was written.
        Assert.Equal([10L, 40L], (await app.ChangesOfAsync(user)).Select(c => c.Delta).Where(d => d is 10 or 20 or 30 or 40));
    }

    [Fact]
    public async Task A_database_made_read_only_while_serving_answers_writes_503_and_readiness_says_so_until_it_is_writable_again()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day, 1_000_000));
        var path = $"/internal/users/{user}/asset-adjustments";
        var name = new NpgsqlConnectionStringBuilder(database.ConnectionString).Database;

        await AdminAsync($"ALTER DATABASE {name} SET default_transaction_read_only = on");
        // The setting holds for sessions opened from now on.
        app.Services.GetRequiredService<NpgsqlDataSource>().Clear();
        var refused = await client.PostAsJsonAsync(path, new { amount = 20, reason = "read-only" });

        var problem = await refused.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "read-only");
        Assert.Equal("Database refuses writes", problem.Title);
        Assert.Equal(TimeSpan.FromSeconds(60), refused.Headers.RetryAfter?.Delta);
        var (status, code, description) = await DatabaseCheckAsync(client);
        Assert.Equal(("Degraded", HttpStatusCode.OK), (status, code));
        Assert.Contains("the database refuses writes: read-only", description);
        // Reads still work.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/users/{user}/asset-series?to={Day:yyyy-MM-dd}")).StatusCode);

        await AdminAsync($"ALTER DATABASE {name} RESET default_transaction_read_only");
        app.Services.GetRequiredService<NpgsqlDataSource>().Clear();
        Assert.Equal(("Healthy", HttpStatusCode.OK), await DatabaseReadinessAsync(client));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync(path, new { amount = 40, reason = "writable" })).StatusCode);
    }

    private static async Task AdminAsync(string sql)
    {
        await using var admin = new NpgsqlConnection(TestDatabase.AdminConnectionString());
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(sql, admin);
        await command.ExecuteNonQueryAsync();
    }

    /// <param name="leaveBytes">
    /// Room left on SQLite's disk, after the claim's: with 64 KB the day's first chunk fails; with 128 KB a chunk commits
    /// first and takes all but a few pages, fewer than the outcome's record needs (without the storage reserve the run
    /// stayed "running" until its lease went stale).
    /// </param>
    [Theory]
    [InlineData(DatabaseProvider.Sqlite, 64 * 1024)]
    [InlineData(DatabaseProvider.Sqlite, 128 * 1024)]
    [InlineData(DatabaseProvider.Postgres, 0)]
    public async Task A_run_on_a_full_disk_fails_with_the_reason_instead_of_hanging(DatabaseProvider provider, int leaveBytes)
    {
        await using var disk = await FullDisk.CreateAsync(provider);
        await using var app = new CoreServerApp(disk.Database);
        var client = app.CreateClient();
        await app.AddActiveUsersAsync(200, Day.AddDays(-2), 1_000_000);
        // The day before went through, so the ledger has a page to record the next run in.
        Assert.Equal(BatchRunStatus.Completed, (await client.RunDayAsync(Day.AddDays(-1))).Status);

        // Nearly full: the claim of the day (a row) still fits, the day's snapshots (pages of them) do not.
        var reserve = provider == DatabaseProvider.Sqlite ? StorageReserve.PathBeside(disk.Database.SqlitePath!) : null;
        Assert.True(reserve is null || File.Exists(reserve), "the first run's claim kept a storage reserve");
        await disk.FillAsync(leaveBytes);
        var started = Stopwatch.StartNew();
        var response = await client.PostAsync($"{RefreshRuns.Path}?day={Day:yyyy-MM-dd}", null);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var result = await RefreshRuns.ResultOfAsync(response);
        Assert.Equal(BatchRunStatus.Failed, result.Status);
        Assert.StartsWith("database storage full: ", result.Error);
        // Not retried for Database:RetryTimeout (30 s): waiting does not free a disk.
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(20), $"took {started.Elapsed}");
        // Readiness probes with a small write, which the room left for the claim may still take (it did once in a whole
        // suite's run on SQLite, and readiness rightly said Healthy): the disk is filled to the last byte before it is asked.
        disk.TakeTheRest();
        var (status, _, description) = await DatabaseCheckAsync(client);
        Assert.Equal("Degraded", status);
        Assert.Contains("the database refuses writes: storage full", description);

        disk.Free();
        await using var db = disk.Database.CreateContext();
        var run = await db.BatchRuns.AsNoTracking().SingleAsync(r => r.Day == Day);
        Assert.Equal((BatchRunStatus.Failed, result.Error, result.RunId), (run.Status, run.Error, (long?)run.Id));
        Assert.Equal(BatchRunStatus.Completed, (await client.RunDayAsync(Day)).Status);
        // Given up only when the outcome did not fit, and made again by the next claim once there was room.
        Assert.True(reserve is null || File.Exists(reserve), "the next run's claim made the storage reserve again");
    }

    /// <summary>
    /// SQLite: a claim, like any commit, grows the write-ahead log. (PostgreSQL's full tablespace still has room in the
    /// run tables' pages for a claim, and its write-ahead log is not on the test's disk.)
    /// </summary>
    [Fact]
    public async Task A_claim_that_does_not_fit_on_a_full_disk_starts_no_run_and_leaves_none_running()
    {
        await using var disk = await FullDisk.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(disk.Database);
        var client = app.CreateClient();
        await app.AddActiveUsersAsync(20, Day.AddDays(-2), 1_000_000);
        Assert.Equal(BatchRunStatus.Completed, (await client.RunDayAsync(Day.AddDays(-1))).Status);
        await disk.FillAsync();
        disk.TakeTheRest();

        var response = await client.PostAsync($"{RefreshRuns.Path}?day={Day:yyyy-MM-dd}", null);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var result = await RefreshRuns.ResultOfAsync(response);
        Assert.Equal((BatchRunStatus.Failed, (long?)null), (result.Status, result.RunId));
        Assert.StartsWith("database storage full: ", result.Error);
        disk.Free();
        await using (var db = disk.Database.CreateContext())
        {
            // The claim and its attempt's record commit together or not at all: no day is left "running" without a run.
            Assert.Empty(await db.BatchRuns.AsNoTracking().Where(r => r.Day == Day).ToListAsync());
            Assert.Equal(0, await db.BatchRunAttempts.AsNoTracking().CountAsync(a => a.Status == BatchRunStatus.Running));
        }
        Assert.Equal(BatchRunStatus.Completed, (await client.RunDayAsync(Day)).Status);
    }

    /// <summary>The settings of a CLI process on <paramref name="database"/>, made read-only.</summary>
    private static async Task<Dictionary<string, string?>> ReadOnlyAsync(TestDatabase database)
    {
        var connectionString = database.ConnectionString;
        if (database.Provider == DatabaseProvider.Postgres)
        {
            var name = new NpgsqlConnectionStringBuilder(database.ConnectionString).Database;
            await using var admin = new NpgsqlConnection(TestDatabase.AdminConnectionString());
            await admin.OpenAsync();
            await using var alter = new NpgsqlCommand($"ALTER DATABASE {name} SET default_transaction_read_only = on", admin);
            await alter.ExecuteNonQueryAsync();
            NpgsqlConnection.ClearAllPools();
        }
        else
        {
            SqliteConnection.ClearAllPools();
            connectionString += ";Mode=ReadOnly";
        }
        return new Dictionary<string, string?>
        {
            ["Database:Provider"] = database.Provider.ToString(),
            ["ConnectionStrings:DontGoBack"] = connectionString,
        };
    }

    private static async Task<(string Status, HttpStatusCode Code)> DatabaseReadinessAsync(HttpClient client)
    {
        var (status, code, _) = await DatabaseCheckAsync(client);
        return (status, code);
    }

    private static async Task<(string Status, HttpStatusCode Code, string Description)> DatabaseCheckAsync(HttpClient client)
    {
        var response = await client.GetAsync("/health/ready");
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var check = body.RootElement.GetProperty("checks").GetProperty("database");
        return (check.GetProperty("status").GetString()!, response.StatusCode, check.GetProperty("description").GetString()!);
    }

    /// <summary>
    /// A tmpfs of a few megabytes holding the test's database, filled up with a file of zeros on
    /// demand (writes that need more room fail with ENOSPC) and freed again by deleting it.
    /// </summary>
    private sealed class FullDisk : IAsyncDisposable
    {
        private readonly string _mount;
        private readonly string? _tablespace;
        private string Filler => Path.Combine(_mount, "filler");

        private FullDisk(string mount, TestDatabase database, string? tablespace) => (_mount, Database, _tablespace) = (mount, database, tablespace);

        public TestDatabase Database { get; }

        public static async Task<FullDisk> CreateAsync(DatabaseProvider provider)
        {
            var mount = Path.Combine(Path.GetTempPath(), $"dgb-full-{Guid.NewGuid():N}");
            Directory.CreateDirectory(mount);
            // PostgreSQL copies the catalogs (about 8 MB) into the database's tablespace. SQLite's write-ahead log keeps the
            // migrations' pages (several MB) until a checkpoint, and the storage reserve (1 MB) lies beside it.
            await RunAsync("mount", "-t", "tmpfs", "-o", provider == DatabaseProvider.Sqlite ? "size=16m" : "size=24m", "tmpfs", mount);
            if (provider == DatabaseProvider.Sqlite)
                return new FullDisk(mount, TestDatabase.SqliteAt(Path.Combine(mount, "dontgoback.db")), null);

            try
            {
                var location = Path.Combine(mount, "tablespace");
                Directory.CreateDirectory(location);
                await RunAsync("chown", "postgres:postgres", location);
                var tablespace = $"dgb_full_{Guid.NewGuid():N}";
                await AdminAsync($"CREATE TABLESPACE {tablespace} LOCATION '{location}'");
                var database = await TestDatabase.CreateAsync(provider);
                await AdminAsync($"ALTER DATABASE {new NpgsqlConnectionStringBuilder(database.ConnectionString).Database} SET TABLESPACE {tablespace}");
                return new FullDisk(mount, database, tablespace);
            }
            catch
            {
                // No FullDisk to dispose of: the mount would stay for the life of the machine (e.g. without a PostgreSQL to use).
                await RunAsync("umount", "-l", mount);
                Directory.Delete(mount);
                throw;
            }
        }

        /// <summary>Fills what is left; SQLite's write-ahead log is emptied first, so the next commit must grow it.</summary>
        /// <param name="leaveBytes">Room left free: a nearly full disk, on which small writes still go through.</param>
        public async Task FillAsync(int leaveBytes = 0)
        {
            if (Database.Provider == DatabaseProvider.Sqlite)
            {
                await using var connection = new SqliteConnection(Database.ConnectionString);
                await connection.OpenAsync();
                await using var checkpoint = new SqliteCommand("PRAGMA wal_checkpoint(TRUNCATE)", connection);
                await checkpoint.ExecuteNonQueryAsync();
            }
            var block = new byte[64 * 1024];
            await using var filler = new FileStream(Filler, FileMode.Create, FileAccess.Write, FileShare.None, 0, FileOptions.None);
            try
            {
                while (true)
                    filler.Write(block);
            }
            catch (IOException)
            {
                // The disk is full; smaller writes take what the last block left.
            }
            try
            {
                while (true)
                    filler.Write(block, 0, 512);
            }
            catch (IOException)
            {
            }
            if (leaveBytes > 0)
                filler.SetLength(Math.Max(0, filler.Length - leaveBytes));
        }

        /// <summary>Takes the room a nearly full disk (<see cref="FillAsync"/>'s leaveBytes) still had, without touching the database.</summary>
        public void TakeTheRest()
        {
            using var filler = new FileStream(Filler, FileMode.Append, FileAccess.Write, FileShare.None, 0, FileOptions.None);
            foreach (var size in new[] { 64 * 1024, 512 })
            {
                try
                {
                    while (true)
                        filler.Write(new byte[size]);
                }
                catch (IOException)
                {
                    // Full at this size; the next, smaller one takes what is left.
                }
            }
        }

        /// <summary>
        /// PostgreSQL only: rows like <paramref name="select"/>'s, committed into <paramref name="table"/> until it cannot
        /// grow, so no page of it has room for one more (as when other writes filled the disk).
        /// </summary>
        public async Task FillTableAsync(string table, string select, string columns)
        {
            if (Database.Provider != DatabaseProvider.Postgres)
                return;
            foreach (var rows in new[] { 1000, 1 })
            {
                try
                {
                    while (true)
                    {
                        // A connection each time: the server may end the session that met the full disk.
                        await using var connection = new NpgsqlConnection(Database.ConnectionString);
                        await connection.OpenAsync();
                        await using var insert = new NpgsqlCommand(
                            $"INSERT INTO {table} ({columns}) SELECT one.* FROM ({select}) one CROSS JOIN generate_series(1, {rows})", connection);
                        await insert.ExecuteNonQueryAsync();
                    }
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DiskFull)
                {
                }
            }
        }

        public void Free() => File.Delete(Filler);

        public async ValueTask DisposeAsync()
        {
            await Database.DisposeAsync();
            if (_tablespace is not null)
                await AdminAsync($"DROP TABLESPACE IF EXISTS {_tablespace}");
            await RunAsync("umount", "-l", _mount);
            Directory.Delete(_mount);
        }

        private static async Task AdminAsync(string sql)
        {
            await using var admin = new NpgsqlConnection(TestDatabase.AdminConnectionString());
            await admin.OpenAsync();
            await using var command = new NpgsqlCommand(sql, admin);
            await command.ExecuteNonQueryAsync();
        }

        private static async Task RunAsync(string program, params string[] arguments)
        {
            using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true })!;
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: {error}");
        }
    }
}
