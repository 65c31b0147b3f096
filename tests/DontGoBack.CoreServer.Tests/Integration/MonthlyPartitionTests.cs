using System.Net;
using System.Net.Http.Json;
using DontGoBack.Batch.Runs;
using System.Text.Json;
using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// PostgreSQL's monthly partitions of the history (issue 27): created ahead by history-maintenance, a DEFAULT partition
/// catching what finds no month, a rolled-up month let go by detaching and dropping its partitions; a database that held
/// history before keeps its plain tables and works as before. The partitions are looked at in PostgreSQL's catalog by the
/// names operators see (daily_asset_snapshots_yYYYYmMM), and the maintenance runs through the trigger as an operator's would.
/// </summary>
public sealed class MonthlyPartitionTests
{
    private const string MaintenancePath = "/internal/batch/history-maintenance/runs";

    [Fact]
    public async Task Maintenance_creates_the_month_of_its_day_and_the_next_two_ahead_of_need_and_once()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        await app.AddUserAsync(AccountStatus.Active);

        var first = await RunMaintenanceAsync(client, new DateOnly(2025, 2, 10));

        Assert.Equal((BatchRunStatus.Completed, 6), (first.Status, first.Counters.Counts.GetValueOrDefault("partitionsCreated")));
        foreach (var table in new[] { "daily_asset_snapshots", "asset_changes" })
        {
            Assert.Equal([$"{table}_y2025m02", $"{table}_y2025m03", $"{table}_y2025m04"],
                (await PartitionsAsync(database, table)).Where(p => p.StartsWith($"{table}_y2025", StringComparison.Ordinal)));
        }

        // The next day's run finds them there, and one a month later adds the one month that came into reach.
        var again = await RunMaintenanceAsync(client, new DateOnly(2025, 2, 11));
        Assert.Equal(0, again.Counters.Counts.GetValueOrDefault("partitionsCreated"));
        var nextMonth = await RunMaintenanceAsync(client, new DateOnly(2025, 3, 1));
        Assert.Equal(2, nextMonth.Counters.Counts.GetValueOrDefault("partitionsCreated"));
        Assert.Contains("daily_asset_snapshots_y2025m05", await PartitionsAsync(database, "daily_asset_snapshots"));
    }

    [Fact]
    public async Task A_write_with_no_month_partition_lands_in_the_default_and_its_month_takes_it_in_with_its_pointer_and_changes()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var june = await app.AddUserAsync(AccountStatus.Active, (new DateOnly(2025, 6, 2), 10_000_000), (new DateOnly(2025, 6, 5), 10_100_000));
        await RolledHistory.AdjustAsync(client, june, 5_000, "june-reward");
        var october = await app.AddUserAsync(AccountStatus.Active, (new DateOnly(2025, 10, 5), 7_000_000));

        // No partition holds 2025 (the migration made the months of its own day): the default caught every row.
        Assert.Equal(["daily_asset_snapshots_default"], await HoldersAsync(database, "daily_asset_snapshots", june));
        Assert.Equal(["asset_changes_default"], await HoldersAsync(database, "asset_changes", june));

        var run = await RunMaintenanceAsync(client, new DateOnly(2025, 6, 1));

        Assert.Equal((BatchRunStatus.Completed, 6), (run.Status, run.Counters.Counts.GetValueOrDefault("partitionsCreated")));
        Assert.Equal(["daily_asset_snapshots_y2025m06"], await HoldersAsync(database, "daily_asset_snapshots", june));
        Assert.Equal(["asset_changes_y2025m06"], await HoldersAsync(database, "asset_changes", june));
        Assert.Equal(new DateOnly(2025, 6, 5), await app.CurrentDayOfAsync(june));
        Assert.Equal([10_000_000L, 10_105_000], (await app.SnapshotsOfAsync(june)).Select(s => s.ClosingAmount));
        Assert.Contains(await app.ChangesOfAsync(june), c => c.IdempotencyKey == "june-reward");
        // October is past the months created: still in the default, and said so once in the log.
        Assert.Equal(["daily_asset_snapshots_default"], await HoldersAsync(database, "daily_asset_snapshots", october));
        Assert.Single(app.Logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("1 snapshot(s) in daily_asset_snapshots_default", StringComparison.Ordinal));
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_rolled_up_month_goes_by_dropping_its_partitions_keeping_the_dormant_pointer_and_the_same_answers(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        var client = app.CreateClient();
        var history = await RolledHistory.SeedAsync(app);
        var expected = await RolledHistory.ExpectedAsync(app, history);
        // Maintenance on a day of March partitions March to May, moving their rows out of the default (nothing is old enough to go).
        var partitioning = await RunMaintenanceAsync(client, new DateOnly(2025, 3, 3));
        Assert.Equal(BatchRunStatus.Completed, partitioning.Status);
        if (provider == DatabaseProvider.Postgres)
        {
            Assert.Equal(6, partitioning.Counters.Counts.GetValueOrDefault("partitionsCreated"));
            Assert.Equal(["daily_asset_snapshots_y2025m04"], await HoldersAsync(database, "daily_asset_snapshots", history.Dormant, new DateOnly(2025, 4, 7)));
        }
        await database.AssertChainHoldsAsync();

        var run = await RunMaintenanceAsync(client, RolledHistory.Today);

        Assert.Equal((BatchRunStatus.Completed, RolledHistory.ClosedMonths.Length), (run.Status, run.Counters.Counts.GetValueOrDefault("monthsRolledUp")));
        await RolledHistory.AssertEndStateAsync(app, expected);
        Assert.Equal(new DateOnly(2025, 4, 7), await app.CurrentDayOfAsync(history.Dormant));
        await database.AssertChainHoldsAsync();
        if (provider == DatabaseProvider.Postgres)
        {
            // Whole partitions went, change rows' and snapshots' of each month, nothing row by row.
            Assert.Equal((3, 6, 0, 0), (run.Counters.Counts.GetValueOrDefault("monthsDropped"), run.Counters.Counts.GetValueOrDefault("partitionsDropped"),
                run.Counters.Counts.GetValueOrDefault("snapshotsDeleted"), run.Counters.Counts.GetValueOrDefault("changesDeleted")));
            Assert.True(run.Counters.Counts.GetValueOrDefault("kilobytesFreed") > 0, "the partitions dropped held some bytes");
            var left = await PartitionsAsync(database, "daily_asset_snapshots");
            Assert.DoesNotContain(left, p => p is "daily_asset_snapshots_y2025m03" or "daily_asset_snapshots_y2025m04" or "daily_asset_snapshots_y2025m05");
            Assert.DoesNotContain(await PartitionsAsync(database, "asset_changes"), p => p.StartsWith("asset_changes_y2025m0", StringComparison.Ordinal)
                && p.CompareTo("asset_changes_y2025m06") < 0);
            // The dormant user's April balance is kept in the default partition, with its change rows.
            Assert.Equal(["daily_asset_snapshots_default"], await HoldersAsync(database, "daily_asset_snapshots", history.Dormant, new DateOnly(2025, 4, 7)));
        }
        else
        {
            Assert.Equal(expected.SnapshotsDeleted, run.Counters.Counts.GetValueOrDefault("snapshotsDeleted"));
        }

        // Writes into the months gone are still refused: an adjustment of the dormant balance, and a late day.
        var adjustment = await client.PostAsJsonAsync($"/internal/users/{history.Dormant}/asset-adjustments",
            new { amount = 5_000, reason = "late reward", idempotencyKey = "late" });
        await adjustment.AssertProblemAsync(HttpStatusCode.Conflict, "2025-04-07 is in 2025-04, which has been rolled up");
        var lateDay = await client.PostAsync($"/internal/batch/asset-refresh/runs?day=2025-04-15", null);
        await lateDay.AssertProblemAsync(HttpStatusCode.Conflict, "2025-04-15 is in 2025-04, which has been rolled up");

        // A second run finds nothing left to let go.
        var again = await RunMaintenanceAsync(client, RolledHistory.Today);
        Assert.Equal(0, again.Counters.Counts.GetValueOrDefault("monthsDropped") + again.Counters.Counts.GetValueOrDefault("monthsRolledUp"));
        await RolledHistory.AssertEndStateAsync(app, expected);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_database_holding_history_keeps_its_plain_tables_its_pointers_gain_their_day_and_the_refresh_works(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using (var db = database.CreateContext())
        {
            await db.GetService<IMigrator>().MigrateAsync("MonthlyRollups");
            await db.Database.ExecuteSqlRawAsync("""
                INSERT INTO users (id, status, created_at, opening_day, current_snapshot_id) VALUES (1, 'ACTIVE', '2025-08-01 00:00:00+00:00', '2025-08-08', NULL);
                INSERT INTO daily_asset_snapshots (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at) VALUES
                    (10, 1, '2025-08-08', 10000000, 10000000, NULL, 0, 0, '2025-08-08 00:00:00+00:00'),
                    (11, 1, '2025-08-09', 10000000, 10100000, 1.01, 100000, 0, '2025-08-09 00:00:00+00:00');
                INSERT INTO asset_changes (id, user_id, kind, amount_before, amount_after, delta, snapshot_id, snapshot_day, changed_at) VALUES
                    (1, 1, 'Opening', 0, 10000000, 10000000, 10, '2025-08-08', '2025-08-08 00:00:00+00:00');
                UPDATE users SET current_snapshot_id = 11 WHERE id = 1;
                """);
            await db.Database.MigrateAsync();
        }

        await using (var db = database.CreateContext())
        {
            Assert.Equal(new DateOnly(2025, 8, 9),
                await db.Database.SqlQueryRaw<DateOnly>("SELECT current_snapshot_day AS \"Value\" FROM users WHERE id = 1").SingleAsync());
            if (provider == DatabaseProvider.Postgres)
            {
                Assert.False(await db.Database.SqlQueryRaw<bool>(
                    "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'daily_asset_snapshots'::regclass) AS \"Value\"").SingleAsync());
            }
        }

        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var refreshed = await client.RunDayAsync(new DateOnly(2025, 8, 10));
        Assert.Equal(1, refreshed.Success);
        Assert.Equal(new DateOnly(2025, 8, 10), await app.CurrentDayOfAsync(1));
        // Maintenance on the plain layout creates nothing and fails nothing.
        var maintenance = await RunMaintenanceAsync(client, new DateOnly(2025, 8, 10));
        Assert.Equal((BatchRunStatus.Completed, 0), (maintenance.Status, maintenance.Counters.Counts.GetValueOrDefault("partitionsCreated")));
        await database.AssertChainHoldsAsync();
    }

    [Fact]
    public async Task The_refresh_and_read_statements_scan_only_the_month_partitions_their_days_need()
    {
        await using var partitioned = await PartitionedFromJuneAsync();
        var (database, connection) = (partitioned.Database, partitioned.Connection);
        var users = await SeedThreeMonthsAsync(connection);
        var later = await QueryIdsAsync(connection, "SELECT id FROM daily_asset_snapshots WHERE snapshot_day > DATE '2025-07-20' AND user_id = " + users[0]);
        var (june, july, august) = ("daily_asset_snapshots_y2025m06", "daily_asset_snapshots_y2025m07", "daily_asset_snapshots_y2025m08");

        // The count of the next day's users to do reads no history at all: the pointer's day is on the user's row.
        Assert.Empty(await ScannedAsync(connection, AssetRefreshStore.DueCountSql,
            ("day", new DateOnly(2025, 8, 6)), ("first_id", users[0]), ("last_id", long.MaxValue)));
        // The next day's page and bases: the pointer's (id, day) names August's partition, and nothing before it is read.
        Assert.Equal([august], await ScannedAsync(connection, AssetRefreshStore.ActivePageSql,
            ("day", new DateOnly(2025, 8, 6)), ("from_id", users[0]), ("last_id", long.MaxValue), ("page_size", 100)));
        Assert.Equal([august], await ScannedAsync(connection, PostgresAssetRefreshStore.BasesSql, ("user_ids", users.ToArray()), ("day", new DateOnly(2025, 8, 6))));
        // A late day re-based: the later days and their update read July onward, never June.
        var laterRead = await ScannedAsync(connection, PostgresAssetRefreshStore.LaterSnapshotsSql, ("user_ids", users.ToArray()), ("day", new DateOnly(2025, 7, 20)));
        Assert.Contains(july, laterRead);
        Assert.Contains(august, laterRead);
        Assert.DoesNotContain(june, laterRead);
        var rebased = await ScannedAsync(connection, PostgresAssetRefreshStore.UpdateRebasedSql,
            ("ids", later.ToArray()), ("openings", later.Select(_ => 1000L).ToArray()), ("market_deltas", later.Select(_ => 0L).ToArray()),
            ("net_flows", later.Select(_ => 0L).ToArray()), ("closings", later.Select(_ => 1000L).ToArray()),
            ("now", DateTimeOffset.UnixEpoch), ("day", new DateOnly(2025, 7, 20)));
        Assert.DoesNotContain(june, rebased);
        Assert.NotEmpty(rebased.Intersect([july, august]));
        // The profile graph of July: July's days and the pointer's August row, nothing of June.
        Assert.Equal([july, august], await ScannedAsync(connection, AssetSeriesReader.DaysSql,
            ("user_id", users[0]), ("from", new DateOnly(2025, 7, 1)), ("to", new DateOnly(2025, 7, 31))));
        Assert.Equal([july, august], await ScannedAsync(connection, AssetSeriesReader.PostgresMonthsSql,
            ("user_id", users[0]), ("from", new DateOnly(2025, 7, 1)), ("to", new DateOnly(2025, 7, 31))));
        // June and July rolled up as they closed, their days kept: a month graph from June reads their roll-ups and the days
        // of August alone (the horizon is known before the days are scanned, so no partition before it is read); a July whose
        // roll-up is still under way (rolled_up_at NULL) is read from its days.
        await ExecuteAsync(connection, "INSERT INTO asset_rolled_up_months (month, users, rolled_up_at) VALUES (DATE '2025-06-01', 0, now()), (DATE '2025-07-01', 0, NULL)");
        (string, object)[] fromJune = [("user_id", users[0]), ("from", new DateOnly(2025, 6, 1)), ("to", new DateOnly(2025, 8, 5))];
        Assert.Equal([july, august], await ScannedAsync(connection, AssetSeriesReader.PostgresMonthsSql, fromJune));
        await ExecuteAsync(connection, "UPDATE asset_rolled_up_months SET rolled_up_at = now() WHERE month = DATE '2025-07-01'");
        Assert.Equal([august], await ScannedAsync(connection, AssetSeriesReader.PostgresMonthsSql, fromJune));
    }

    [Fact]
    public async Task The_refresh_reads_its_pages_and_bases_without_compiling_them_however_costly_the_planner_thinks_them()
    {
        await using var partitioned = await PartitionedFromJuneAsync();
        var (database, connection) = (partitioned.Database, partitioned.Connection);
        await ExecuteAsync(connection, """
            INSERT INTO users (status, created_at, opening_day) SELECT 'ACTIVE', now(), DATE '2025-06-01' FROM generate_series(1, 500);
            INSERT INTO daily_asset_snapshots (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
            SELECT u.id, d::date, 1000, 1000, 1.0, 0, 0, now()
              FROM users u CROSS JOIN (VALUES (DATE '2025-06-05'), (DATE '2025-07-05'), (DATE '2025-08-05')) v(d)
             WHERE u.opening_day = DATE '2025-06-01';
            UPDATE users u SET current_snapshot_id = s.id, current_snapshot_day = s.snapshot_day
              FROM daily_asset_snapshots s WHERE s.user_id = u.id AND s.snapshot_day = DATE '2025-08-05';
            ANALYZE users, daily_asset_snapshots;
            """);
        var users = await QueryIdsAsync(connection, "SELECT id FROM users WHERE opening_day = DATE '2025-06-01' ORDER BY id LIMIT 100");
        // The planner costs the probe of the pointer's snapshot in every month partition, so at 25 months of history a page
        // read and a chunk's bases passed jit_above_cost (100,000 by default) and were compiled on every run; here a few rows
        // in three months stand for that depth by lowering the threshold for this session.
        await ExecuteAsync(connection, "SET jit_above_cost = 0");
        (string Sql, (string, object)[] Parameters)[] statements =
        [
            (AssetRefreshStore.ActivePageSql, [("day", new DateOnly(2025, 8, 6)), ("from_id", users[0]), ("last_id", long.MaxValue), ("page_size", 100)]),
            (PostgresAssetRefreshStore.BasesSql, [("user_ids", users.ToArray()), ("day", new DateOnly(2025, 8, 6))]),
        ];
        foreach (var (sql, parameters) in statements)
        {
            // In a plain transaction the server compiles it, so the assertion after it can fail.
            Assert.True(await JitFunctionsAsync(connection, sql, null, parameters) > 0);
            Assert.Equal(0, await JitFunctionsAsync(connection, sql, PostgresAssetRefreshStore.PlanForKeyedStatementsAsync, parameters));
        }
    }

    [Fact]
    public async Task A_month_dropped_while_a_writer_holds_its_users_waits_for_them_before_taking_the_history_and_neither_deadlocks()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        var history = await RolledHistory.SeedAsync(app);
        Assert.Equal(BatchRunStatus.Completed, (await RunMaintenanceAsync(app.CreateClient(), new DateOnly(2025, 3, 3))).Status);
        // A user with no history yet: the roll-ups, which check each row's user, never wait for its lock.
        var user = await app.AddUserAsync(AccountStatus.Active);

        // A refresh chunk's first step: its users locked, the history not touched yet.
        await using var writer = new NpgsqlConnection(database.ConnectionString);
        await writer.OpenAsync();
        await using var writing = await writer.BeginTransactionAsync();
        await using (var lockUser = new NpgsqlCommand($"SELECT id FROM users WHERE id = {user} FOR UPDATE", writer, writing))
            await lockUser.ExecuteNonQueryAsync();

        var lifecycle = Task.Run(() => RolledHistory.RunLifecycleAsync(app));
        await Eventually.UntilAsync(async () => lifecycle.IsCompleted || await database.PostgresScalarAsync<bool>(
            $"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE {writer.ProcessID} = ANY (pg_blocking_pids(pid)))"), TimeSpan.FromSeconds(60));
        if (lifecycle.IsCompleted)
        {
            await lifecycle;
            Assert.Fail("the drop went through while a writer held its users");
        }

        // The chunk's next step reads the history: the drop waits for users before it takes the history, so this goes
        // through. (Taking the history first, the drop waited for users holding it, and this read deadlocked with it.)
        await using (var read = new NpgsqlCommand($"SET LOCAL statement_timeout = '30s'; SELECT count(*) FROM daily_asset_snapshots WHERE user_id = {history.Active[0]}", writer, writing))
            Assert.True((long)(await read.ExecuteScalarAsync())! > 0);
        await writing.CommitAsync();

        var result = await lifecycle;
        Assert.Equal(6, result.PartitionsDropped);
    }

    [Fact]
    public async Task A_chunk_keeps_roll_ups_current_by_reading_only_the_rolled_up_months_from_its_day_on_and_none_on_the_current_day()
    {
        await using var partitioned = await PartitionedFromJuneAsync();
        var (database, connection) = (partitioned.Database, partitioned.Connection);
        var users = await SeedThreeMonthsAsync(connection);
        // July closed and rolled up; August is the current month.
        await ExecuteAsync(connection, "INSERT INTO asset_rolled_up_months (month, users, rolled_up_at) VALUES (DATE '2025-07-01', 0, now())");

        // Every chunk of the daily refresh runs the statement after its writes: on the current month it reads no history.
        Assert.Empty(await ScannedAsync(connection, AssetMonthRollups.PostgresAgainSql, ("user_ids", users.ToArray()), ("from_month", new DateOnly(2025, 8, 1))));
        // A late day in July reads July's days of its users, not June's nor August's.
        Assert.Equal(["daily_asset_snapshots_y2025m07"],
            await ScannedAsync(connection, AssetMonthRollups.PostgresAgainSql, ("user_ids", users.ToArray()), ("from_month", new DateOnly(2025, 7, 1))));
    }

    [Fact]
    public async Task A_chunk_write_plans_the_pointers_key_check_once_and_the_statements_after_it_for_their_own_values()
    {
        await using var partitioned = await PartitionedFromJuneAsync();
        var (database, connection) = (partitioned.Database, partitioned.Connection);
        var users = await SeedThreeMonthsAsync(connection);
        var day = new DateOnly(2025, 8, 6);

        // Here, as at 25 months of history, PostgreSQL plans each moved pointer's key check again (a control, so the
        // assertion after it can fail); with the store's setting around the write it plans the check once.
        Assert.True(await PlansOfAChunkWriteAsync(database, users, day, onePlan: false) >= users.Count);
        Assert.InRange(await PlansOfAChunkWriteAsync(database, users, day, onePlan: true), 1, users.Count / 10);

        // After the write the transaction plans each statement for its own values again, as the chunk's rebases after it need:
        // a plan for any day is planned over, and locks, every month partition. (EXPLAIN cannot show the difference: given
        // the parameters' values, it plans for them whatever plan_cache_mode says.)
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await PostgresAssetRefreshStore.PlanForKeyedStatementsAsync(connection, transaction, CancellationToken.None);
            var before = await PlanCacheModeAsync(connection, transaction);
            var during = await PostgresAssetRefreshStore.WithOnePlanForThePointersKeyAsync(
                connection, transaction, () => PlanCacheModeAsync(connection, transaction), CancellationToken.None);
            Assert.Equal(("auto", "force_generic_plan"), (before, during));
            Assert.Equal(before, await PlanCacheModeAsync(connection, transaction));
        }
    }

    /// <summary>
    /// How many plans PostgreSQL made for the chunk write that moves <paramref name="users"/>' pointers to <paramref name="day"/>,
    /// the key checks' included, in a new session and a transaction rolled back: with log_planner_stats each plan is reported
    /// to the session that made it.
    /// </summary>
    private static async Task<int> PlansOfAChunkWriteAsync(TestDatabase database, List<long> users, DateOnly day, bool onePlan)
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        var plans = 0;
        connection.Notice += (_, e) => plans += e.Notice.MessageText == "PLANNER STATISTICS" ? 1 : 0;
        await ExecuteAsync(connection, "SET log_planner_stats = on; SET client_min_messages = log");
        await using var transaction = await connection.BeginTransactionAsync();
        await PostgresAssetRefreshStore.PlanForKeyedStatementsAsync(connection, transaction, CancellationToken.None);
        await using var write = ChunkWrite(connection, transaction, users, day);
        var before = plans;
        var moved = onePlan
            ? await PostgresAssetRefreshStore.WithOnePlanForThePointersKeyAsync(connection, transaction, () => CountRowsAsync(write), CancellationToken.None)
            : await CountRowsAsync(write);
        var planned = plans - before;
        Assert.Equal(users.Count, moved);
        Assert.Equal(users.Count, await CountAsync(connection, transaction, $"SELECT count(*) FROM users WHERE current_snapshot_day = DATE '{day:yyyy-MM-dd}'"));
        await transaction.RollbackAsync();
        return planned;

        static async Task<int> CountRowsAsync(NpgsqlCommand command)
        {
            await using var reader = await command.ExecuteReaderAsync();
            var rows = 0;
            while (await reader.ReadAsync())
                rows++;
            return rows;
        }
    }

    /// <summary>The store's chunk write of <paramref name="day"/> for <paramref name="users"/>, none of them with a later day.</summary>
    private static NpgsqlCommand ChunkWrite(NpgsqlConnection connection, NpgsqlTransaction transaction, List<long> users, DateOnly day)
    {
        var write = new NpgsqlCommand(PostgresAssetRefreshStore.WriteMovesSql, connection, transaction);
        write.Parameters.AddWithValue("user_ids", users.ToArray());
        write.Parameters.AddWithValue("openings", users.Select(_ => 1000L).ToArray());
        write.Parameters.AddWithValue("closings", users.Select(_ => 1010L).ToArray());
        write.Parameters.AddWithValue("multipliers", users.Select(_ => 1.01).ToArray());
        write.Parameters.AddWithValue("with_later_days", Array.Empty<long>());
        write.Parameters.AddWithValue("day", day);
        write.Parameters.AddWithValue("now", DateTimeOffset.UnixEpoch);
        return write;
    }

    private static async Task<long> CountAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// 5,000 users with days in June, July and August 2025 (the 5th and the 20th), the pointer on 2025-08-05, analyzed;
    /// answers the first 50. A page or a chunk is a small part of the users, as on a real table, so the planner's choice is
    /// the one production gets (on a few hundred rows it hashes them all, reading every partition).
    /// </summary>
    private static async Task<List<long>> SeedThreeMonthsAsync(NpgsqlConnection connection)
    {
        await ExecuteAsync(connection, """
            INSERT INTO users (status, created_at, opening_day) SELECT 'ACTIVE', now(), DATE '2025-06-01' FROM generate_series(1, 5000);
            INSERT INTO daily_asset_snapshots (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
            SELECT u.id, d::date, 1000, 1000, 1.0, 0, 0, now()
              FROM users u CROSS JOIN generate_series(DATE '2025-06-01', DATE '2025-08-05', interval '1 day') d
             WHERE u.opening_day = DATE '2025-06-01' AND extract(day FROM d) IN (5, 20);
            UPDATE users u SET current_snapshot_id = s.id, current_snapshot_day = s.snapshot_day
              FROM daily_asset_snapshots s WHERE s.user_id = u.id AND s.snapshot_day = DATE '2025-08-05';
            ANALYZE users, daily_asset_snapshots, asset_changes;
            """);
        return await QueryIdsAsync(connection, "SELECT id FROM users WHERE opening_day = DATE '2025-06-01' ORDER BY id LIMIT 50");
    }

    /// <summary>A PostgreSQL database whose maintenance on 2025-06-01 partitioned June to August, and a connection to it.</summary>
    private sealed record Partitioned(TestDatabase Database, CoreServerApp App, NpgsqlConnection Connection) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Connection.DisposeAsync();
            await App.DisposeAsync();
            await Database.DisposeAsync();
        }
    }

    private static async Task<Partitioned> PartitionedFromJuneAsync()
    {
        var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        var app = new CoreServerApp(database);
        await app.AddUserAsync(AccountStatus.Active);
        Assert.Equal(BatchRunStatus.Completed, (await RunMaintenanceAsync(app.CreateClient(), new DateOnly(2025, 6, 1))).Status);
        var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        return new Partitioned(database, app, connection);
    }

    /// <summary>
    /// The functions PostgreSQL JIT-compiled to run <paramref name="sql"/> (EXPLAIN ANALYZE, in a transaction rolled back,
    /// after <paramref name="setUp"/> if given).
    /// </summary>
    private static async Task<long> JitFunctionsAsync(
        NpgsqlConnection connection, string sql, Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task>? setUp,
        (string Name, object Value)[] parameters)
    {
        using var plan = await ExplainAnalyzeAsync(connection, sql, setUp, parameters);
        return plan.RootElement[0].TryGetProperty("JIT", out var jit) ? jit.GetProperty("Functions").GetInt64() : 0;
    }

    /// <summary>
    /// The history partitions <paramref name="sql"/> read when run with these parameters (EXPLAIN ANALYZE, in a transaction
    /// rolled back): a partition pruned at planning is not in the plan, one pruned while running is never executed.
    /// </summary>
    private static async Task<List<string>> ScannedAsync(NpgsqlConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        using var plan = await ExplainAnalyzeAsync(connection, sql, null, parameters);
        var scanned = new SortedSet<string>(StringComparer.Ordinal);
        Walk(plan.RootElement[0].GetProperty("Plan"));
        return [.. scanned];

        void Walk(JsonElement node)
        {
            if (node.TryGetProperty("Relation Name", out var relation) && node.GetProperty("Actual Loops").GetInt64() > 0
                && relation.GetString() is { } name && name.StartsWith("daily_asset_snapshots", StringComparison.Ordinal))
            {
                scanned.Add(name);
            }
            if (node.TryGetProperty("Plans", out var children))
            {
                foreach (var child in children.EnumerateArray())
                    Walk(child);
            }
        }
    }

    private static async Task<string> PlanCacheModeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        await using var command = new NpgsqlCommand("SELECT current_setting('plan_cache_mode')", connection, transaction);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<JsonDocument> ExplainAnalyzeAsync(
        NpgsqlConnection connection, string sql, Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task>? setUp,
        (string Name, object Value)[] parameters)
    {
        await using var transaction = await connection.BeginTransactionAsync();
        if (setUp is not null)
            await setUp(connection, transaction, CancellationToken.None);
        await using var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, connection, transaction);
        foreach (var (name, value) in parameters)
            explain.Parameters.AddWithValue(name, value);
        var plan = JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
        await transaction.RollbackAsync();
        return plan;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<List<long>> QueryIdsAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new List<long>();
        while (await reader.ReadAsync())
            ids.Add(reader.GetInt64(0));
        return ids;
    }

    private static async Task<BatchResult> RunMaintenanceAsync(HttpClient client, DateOnly day) =>
        await RefreshRuns.ResultOfAsync(await client.PostAsync($"{MaintenancePath}?day={day:yyyy-MM-dd}", null));

    /// <summary>The partitions of <paramref name="table"/>, by name.</summary>
    private static async Task<List<string>> PartitionsAsync(TestDatabase database, string table)
    {
        await using var db = database.CreateContext();
        return await db.Database.SqlQuery<string>($"""
            SELECT c.relname::text AS "Value" FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = to_regclass({table}) ORDER BY 1
            """).ToListAsync();
    }

    /// <summary>The partitions that hold <paramref name="userId"/>'s rows of <paramref name="table"/> (on <paramref name="day"/> only, if given).</summary>
    private static async Task<List<string>> HoldersAsync(TestDatabase database, string table, long userId, DateOnly? day = null)
    {
        await using var db = database.CreateContext();
        // The table's name is one of two constants above; tableoid tells the partition a row is in.
        var sql = $"SELECT DISTINCT tableoid::regclass::text AS \"Value\" FROM {table} WHERE user_id = {{0}} AND snapshot_day BETWEEN {{1}} AND {{2}} ORDER BY 1";
        return await db.Database.SqlQueryRaw<string>(sql, userId, day ?? DateOnly.MinValue, day ?? DateOnly.MaxValue).ToListAsync();
    }
}
