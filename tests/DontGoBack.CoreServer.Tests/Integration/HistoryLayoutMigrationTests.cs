using System.Net.Http.Json;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The online migration of a PostgreSQL database's history from the plain tables to monthly partitions (issue 27, item 5):
/// under a refresh that writes before, during and after each step, with adjustments and deletes racing the copy, stopped
/// and run again, and through the CLI as an operator runs it. Every row there before is there after, unchanged, the day is
/// written once per user, and the catalog ends as a new database's.
/// </summary>
public sealed class HistoryLayoutMigrationTests : IDisposable
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private const int Users = 200;
    private readonly string _workingDirectory = Directory.CreateTempSubdirectory("dontgoback-migrate-").FullName;

    public void Dispose() => Directory.Delete(_workingDirectory, recursive: true);

    [Fact]
    public async Task A_refresh_running_through_every_step_writes_its_day_once_and_every_row_before_stays_unchanged()
    {
        await using var database = await PlainDatabaseWithHistoryAsync();
        var before = await RowsAsync(database, long.MaxValue);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:MaxConcurrency"] = "1",
            ["AssetRefresh:WriteChunkSize"] = "5",
            ["AssetRefresh:MaxWriteDelay"] = "00:00:00.010",
            // A call held by the test waits for it, not for a timeout that would fail its user.
            ["Extension:AttemptTimeout"] = "00:05:00",
            ["Extension:UserDeadline"] = "00:10:00",
        });
        var client = app.CreateClient();
        app.Extension.HoldCalls();
        var running = client.RunDayAsync(Day);

        // Written before the migration begins: on the plain table, before the triggers; the copy brings them.
        app.Extension.LetThrough(40);
        await WrittenAsync(database, 40);
        await using var scope = app.Services.CreateAsyncScope();
        var migration = scope.ServiceProvider.GetRequiredService<HistoryLayoutMigration>();
        await migration.PrepareAsync(CancellationToken.None);
        Assert.Equal(HistoryMigrationStage.Copying, await migration.StageAsync(CancellationToken.None));

        // An adjustment to a row the copy has not reached: the trigger writes the new amount, and the copy keeps it.
        var adjusted = await client.PostAsJsonAsync("/internal/users/1/asset-adjustments", new { amount = 777, reason = "during the copy", idempotencyKey = "copy-1" });
        Assert.True(adjusted.IsSuccessStatusCode, await adjusted.Content.ReadAsStringAsync());
        // Written between the triggers and the copy: mirrored by the triggers.
        app.Extension.LetThrough(40);
        await WrittenAsync(database, 80);
        // Written while the copy runs: a call let through after each batch.
        await migration.CopyAsync(500, new Progress(_ => app.Extension.LetThrough(1)), CancellationToken.None);
        await migration.SwitchAsync(CancellationToken.None);
        var writtenBeforeSwitch = await WrittenCountAsync(database);
        Assert.InRange(writtenBeforeSwitch, 80, Users - 1);

        // The rest are written into the partitioned tables.
        app.Extension.StopHolding();
        var result = await running;
        Assert.Equal((BatchRunStatus.Completed, Users), (result.Status, result.Success));
        var outcome = await migration.FinishAsync(CancellationToken.None);

        Assert.Equal((0L, 0L, true), (outcome.Missing, outcome.Extra, outcome.PlainTablesDropped));
        Assert.Equal(HistoryMigrationStage.Partitioned, await migration.StageAsync(CancellationToken.None));
        var after = await RowsAsync(database, before.MaxSnapshotId);
        Assert.Equal((before.SnapshotHash, before.ChangeHash), (after.SnapshotHash, after.ChangeHash));
        Assert.Equal((before.Snapshots + Users, before.Changes + 1), (outcome.Snapshots, outcome.Changes));
        await using (var db = database.CreateContext())
        {
            Assert.Equal(0, await db.DailyAssetSnapshots.GroupBy(s => new { s.UserId, s.SnapshotDay }).CountAsync(g => g.Count() > 1));
            Assert.Equal(Users, await db.Users.CountAsync(u => u.CurrentSnapshotDay == Day));
            var first = await db.DailyAssetSnapshots.SingleAsync(s => s.UserId == 1 && s.SnapshotDay == Day);
            var change = await db.AssetChanges.SingleAsync(c => c.IdempotencyKey == "copy-1");
            Assert.Equal((777L, change.AmountAfter), (first.NetFlow, first.ClosingAmount));
        }
        await database.AssertChainHoldsAsync();
        Assert.Equal(0L, await database.PostgresScalarAsync<long>("SELECT count(*) FROM daily_asset_snapshots_default"));
        Assert.Equal(before.Snapshots / Users + 1, await database.PostgresScalarAsync<long>("SELECT count(*) FROM daily_asset_snapshots_y2025m08 WHERE user_id = 2")
            + await database.PostgresScalarAsync<long>("SELECT count(*) FROM daily_asset_snapshots_y2025m07 WHERE user_id = 2")
            + await database.PostgresScalarAsync<long>("SELECT count(*) FROM daily_asset_snapshots_y2025m06 WHERE user_id = 2"));

        // The catalog ends as a new database's: the same columns, keys, indexes and foreign keys by name and definition.
        await using var fresh = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using (var db = fresh.CreateContext())
            await db.Database.MigrateAsync();
        Assert.Equal(await CatalogAsync(fresh), await CatalogAsync(database));

        // And it goes on working: the next writes take ids after the copied ones.
        var again = await client.PostAsJsonAsync("/internal/users/2/asset-adjustments", new { amount = 5, reason = "after", idempotencyKey = "after-1" });
        Assert.True(again.IsSuccessStatusCode, await again.Content.ReadAsStringAsync());
        await database.AssertChainHoldsAsync();
    }

    [Fact]
    public async Task A_copy_stopped_half_way_goes_on_when_run_again_alone_and_rows_deleted_meanwhile_stay_gone()
    {
        await using var database = await PlainDatabaseWithHistoryAsync();
        var before = await RowsAsync(database, long.MaxValue);
        await using var app = new CoreServerApp(database);
        await using var scope = app.Services.CreateAsyncScope();
        var migration = scope.ServiceProvider.GetRequiredService<HistoryLayoutMigration>();
        await migration.PrepareAsync(CancellationToken.None);

        // After the first batch: a user the copy passed and one it has not reached are deleted, three days of another user
        // the copy passed too (their twins go by the triggers alone: no user's cascade reaches them), and the copy is stopped.
        using var stop = new CancellationTokenSource();
        var reports = 0;
        var stopped = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => migration.CopyAsync(1_000, new Progress(_ =>
        {
            if (++reports > 1)
                return;
            using var connection = new NpgsqlConnection(database.ConnectionString);
            connection.Open();
            using var delete = new NpgsqlCommand("""
                UPDATE users SET current_snapshot_id = NULL, current_snapshot_day = NULL WHERE id IN (1, 150);
                DELETE FROM users WHERE id IN (1, 150);
                DELETE FROM daily_asset_snapshots WHERE user_id = 3 AND snapshot_day BETWEEN DATE '2025-06-10' AND DATE '2025-06-12';
                """, connection);
            delete.ExecuteNonQuery();
            stop.Cancel();
        }), stop.Token));
        Assert.Equal(HistoryMigrationStage.Copying, await migration.StageAsync(CancellationToken.None));
        var copiedBeforeStop = await database.PostgresScalarAsync<long>($"SELECT rows_copied FROM {HistoryLayoutMigration.ProgressTable} WHERE table_name = 'daily_asset_snapshots'");
        Assert.InRange(copiedBeforeStop, 1, before.Snapshots - 1);

        // While another migration holds the database, a second one refuses to start, and leaves everything as it was.
        await using (var other = new NpgsqlConnection(database.ConnectionString))
        {
            await other.OpenAsync();
            await using var hold = new NpgsqlCommand($"SELECT pg_advisory_lock(hashtext('{HistoryLayoutMigration.RunLockName}'))", other);
            await hold.ExecuteNonQueryAsync();
            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => migration.RunAsync(1_000, new Progress(_ => { }), CancellationToken.None));
            Assert.StartsWith("another migrate-history is running on this database", refused.Message);
            Assert.Equal(copiedBeforeStop, await database.PostgresScalarAsync<long>($"SELECT rows_copied FROM {HistoryLayoutMigration.ProgressTable} WHERE table_name = 'daily_asset_snapshots'"));
            // Back in the pool the connection would keep its session's lock until its next use.
            await using var release = new NpgsqlCommand($"SELECT pg_advisory_unlock(hashtext('{HistoryLayoutMigration.RunLockName}'))", other);
            await release.ExecuteNonQueryAsync();
        }

        var outcome = await migration.RunAsync(1_000, new Progress(_ => { }), CancellationToken.None);

        Assert.NotNull(outcome);
        Assert.Equal((0L, 0L, true), (outcome.Missing, outcome.Extra, outcome.PlainTablesDropped));
        var perUser = before.Snapshots / Users;
        Assert.Equal((before.Snapshots - 2 * perUser - 3, before.Changes - 2), (outcome.Snapshots, outcome.Changes));
        Assert.Equal(0L, await database.PostgresScalarAsync<long>("SELECT count(*) FROM daily_asset_snapshots WHERE user_id IN (1, 150)"));
        Assert.Equal(perUser - 3, await database.PostgresScalarAsync<long>("SELECT count(*) FROM daily_asset_snapshots WHERE user_id = 3"));
        await database.AssertChainHoldsAsync();
    }

    [Fact]
    public async Task A_row_deleted_while_its_copy_batch_holds_it_waits_for_the_batch_and_is_in_neither_layout_after_the_switch()
    {
        await using var database = await PlainDatabaseWithHistoryAsync();
        var before = await RowsAsync(database, long.MaxValue);
        await using var app = new CoreServerApp(database);
        await using var scope = app.Services.CreateAsyncScope();
        var migration = scope.ServiceProvider.GetRequiredService<HistoryLayoutMigration>();
        await migration.PrepareAsync(CancellationToken.None);
        // A day in the middle of a middle batch, with no change row and no user pointing at it: its delete is one row.
        var raced = await database.PostgresScalarAsync<long>("SELECT id FROM daily_asset_snapshots WHERE user_id = 100 AND snapshot_day = DATE '2025-07-15'");

        // The batch that copies the raced row is stopped at that row's insert into the twin, after it read and locked the row,
        // by a trigger of the test's that waits for a lock the test holds. The function's own lock_timeout of 0 lets it wait
        // past the batch's 200 ms: the held batch does not give way, so this one interleaving runs every time (a retry of the
        // batch for any other reason would read the row again and be held at the same place).
        await database.ExecutePostgresAsync($"""
            CREATE FUNCTION test_hold_the_copy() RETURNS trigger LANGUAGE plpgsql SET lock_timeout = 0 AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock_shared(hashtext('test_hold_the_copy'));
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_hold_the_copy BEFORE INSERT ON daily_asset_snapshots_next
                FOR EACH ROW WHEN (NEW.id = {raced}) EXECUTE FUNCTION test_hold_the_copy();
            """);
        await using var holder = new NpgsqlConnection(database.ConnectionString);
        await holder.OpenAsync();
        // A transaction's lock: it goes with the transaction however the test ends, never back to the pool with the connection.
        await using var holding = await holder.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('test_hold_the_copy'))", holder, holding))
            await hold.ExecuteNonQueryAsync();

        var copying = Task.Run(() => migration.CopyAsync(1_000, new Progress(_ => { }), CancellationToken.None));
        var copyPid = 0;
        await Eventually.UntilAsync(async () => copying.IsCompleted
            || (copyPid = await database.PostgresScalarAsync<int?>($"SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND {holder.ProcessID} = ANY (pg_blocking_pids(pid))") ?? 0) != 0,
            TimeSpan.FromSeconds(60));
        if (copying.IsCompleted)
        {
            await copying;
            Assert.Fail("the copy went past the raced row without waiting for the test's lock");
        }

        // The delete, from another connection while the batch waits: with the batch's key-share lock it waits for the batch's
        // transaction; without it, it would go through now and the batch would insert the deleted row afterwards.
        await using var deleter = new NpgsqlConnection(database.ConnectionString);
        await deleter.OpenAsync();
        await using var delete = new NpgsqlCommand($"DELETE FROM daily_asset_snapshots WHERE id = {raced}", deleter);
        var deleting = delete.ExecuteNonQueryAsync();
        await Eventually.UntilAsync(async () => deleting.IsCompleted || await database.PostgresScalarAsync<bool>($"""
            SELECT EXISTS (SELECT 1 FROM pg_locks w
                             JOIN pg_locks h ON h.locktype = 'transactionid' AND h.transactionid = w.transactionid AND h.granted AND h.pid = {copyPid}
                            WHERE w.pid = {deleter.ProcessID} AND w.locktype = 'transactionid' AND NOT w.granted)
            """), TimeSpan.FromSeconds(60));
        var deleteWaitedForTheBatch = !deleting.IsCompleted;

        await holding.RollbackAsync();
        await copying;
        Assert.Equal(1, await deleting);
        await database.ExecutePostgresAsync("DROP TRIGGER test_hold_the_copy ON daily_asset_snapshots_next; DROP FUNCTION test_hold_the_copy();");
        var left = (Plain: await database.PostgresScalarAsync<long>($"SELECT count(*) FROM daily_asset_snapshots WHERE id = {raced}"),
            Twin: await database.PostgresScalarAsync<long>($"SELECT count(*) FROM daily_asset_snapshots_next WHERE id = {raced}"));
        await migration.SwitchAsync(CancellationToken.None);
        var outcome = await migration.FinishAsync(CancellationToken.None);

        Assert.Equal((0L, 0L, true), (outcome.Missing, outcome.Extra, outcome.PlainTablesDropped));
        Assert.Equal((0L, 0L), left);
        Assert.Equal(0L, await database.PostgresScalarAsync<long>($"SELECT count(*) FROM daily_asset_snapshots WHERE id = {raced}"));
        Assert.True(await database.PostgresScalarAsync<bool>($"SELECT to_regclass('{HistoryLayoutMigration.Plain("daily_asset_snapshots")}') IS NULL"));
        Assert.Equal((before.Snapshots - 1, before.Changes), (outcome.Snapshots, outcome.Changes));
        // The race had its chance: the delete came while the batch held the row, and waited for it rather than slip between.
        Assert.True(deleteWaitedForTheBatch, "the delete did not wait for the copy batch that held its row");
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task The_command_migrates_a_plain_history_says_when_there_is_nothing_to_migrate_and_refuses_a_bad_batch(DatabaseProvider provider)
    {
        await using var database = provider == DatabaseProvider.Postgres ? await PlainDatabaseWithHistoryAsync() : await TestDatabase.CreateAsync(provider);
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = database.Provider.ToString(),
            ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
        };
        var refused = await CoreServerProcess.RunAsync(settings, ["migrate-history", "--batch-size", "0"], _workingDirectory);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--batch-size must be at least 1.", refused.Output);

        var first = await CoreServerProcess.RunAsync(settings, ["migrate-history", "--batch-size", "3000"], _workingDirectory);
        Assert.True(first.ExitCode == 0, first.Output);
        if (provider == DatabaseProvider.Sqlite)
        {
            Assert.Contains("nothing to migrate: SQLite keeps one table each", first.Output);
            return;
        }
        Assert.Contains("partitioned by month: 14,000 snapshots and 200 change rows", first.Output);
        Assert.Contains("daily_asset_snapshots: 14,000 rows copied, through id", first.Output);
        await database.AssertChainHoldsAsync();
        var second = await CoreServerProcess.RunAsync(settings, ["migrate-history"], _workingDirectory);
        Assert.True(second.ExitCode == 0, second.Output);
        Assert.Contains("nothing to migrate: the history is partitioned by month already", second.Output);
    }

    /// <summary>
    /// A PostgreSQL database as one that held history when the MonthlyPartitions migration ran has it: plain tables, 200
    /// ACTIVE users opened on 2025-06-01 with a snapshot each day through 2025-08-09 (70 days, 14,000 rows), their opening
    /// change, and the pointer on the last day.
    /// </summary>
    private static async Task<TestDatabase> PlainDatabaseWithHistoryAsync()
    {
        var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var db = database.CreateContext();
        await db.GetService<IMigrator>().MigrateAsync("MonthlyRollups");
        await db.Database.ExecuteSqlRawAsync($"""
            INSERT INTO users (id, status, created_at, opening_day)
            SELECT u, 'ACTIVE', '2025-06-01 00:00:00+00', DATE '2025-06-01' FROM generate_series(1, {Users}) u;
            SELECT setval(pg_get_serial_sequence('users', 'id'), {Users});
            INSERT INTO daily_asset_snapshots (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
            SELECT u, d::date, 10000000, 10000000, CASE WHEN d = DATE '2025-06-01' THEN NULL ELSE 1.0 END, 0, 0, d
              FROM generate_series(1, {Users}) u, generate_series(DATE '2025-06-01', DATE '2025-08-09', interval '1 day') d
             ORDER BY 1, 2;
            INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, snapshot_id, snapshot_day, changed_at)
            SELECT s.user_id, 'Opening', 0, 10000000, 10000000, s.id, s.snapshot_day, '2025-06-01 00:00:00+00'
              FROM daily_asset_snapshots s WHERE s.snapshot_day = DATE '2025-06-01' ORDER BY s.user_id;
            UPDATE users u SET current_snapshot_id = s.id FROM daily_asset_snapshots s WHERE s.user_id = u.id AND s.snapshot_day = DATE '2025-08-09';
            """);
        await db.Database.MigrateAsync();
        Assert.Equal(HistoryLayout.Plain, await new HistoryPartitions(db).LayoutAsync(CancellationToken.None));
        return database;
    }

    private sealed record Rows(long Snapshots, long Changes, long MaxSnapshotId, string SnapshotHash, string ChangeHash);

    /// <summary>The tables' counts, and a digest of every row (each column, in id order) with an id up to <paramref name="throughId"/>.</summary>
    private static async Task<Rows> RowsAsync(TestDatabase database, long throughId) => new(
        await database.PostgresScalarAsync<long>("SELECT count(*) FROM daily_asset_snapshots"),
        await database.PostgresScalarAsync<long>("SELECT count(*) FROM asset_changes"),
        await database.PostgresScalarAsync<long>("SELECT max(id) FROM daily_asset_snapshots"),
        await database.PostgresScalarAsync<string>($"SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM daily_asset_snapshots t WHERE t.id <= {Math.Min(throughId, long.MaxValue - 1)}"),
        await database.PostgresScalarAsync<string>("SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM asset_changes t WHERE t.kind = 'Opening'"));

    private static Task<long> WrittenCountAsync(TestDatabase database) =>
        database.PostgresScalarAsync<long>($"SELECT count(*) FROM daily_asset_snapshots WHERE snapshot_day = DATE '{Day:yyyy-MM-dd}'");

    private static Task WrittenAsync(TestDatabase database, long count) =>
        Eventually.UntilAsync(async () => await WrittenCountAsync(database) >= count, TimeSpan.FromSeconds(60));

    /// <summary>
    /// What a database's history tables and the users' pointer are made of, by name and definition, sorted; not the
    /// constraints PostgreSQL derives per partition from a foreign key to a partitioned table (one per month, so as many as
    /// the months, named after the table as it was then called).
    /// </summary>
    private static async Task<List<string>> CatalogAsync(TestDatabase database)
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                   || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END || ' ' || a.attidentity::text
              FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             WHERE c.relname IN ('daily_asset_snapshots', 'asset_changes', 'users') AND a.attnum > 0 AND NOT a.attisdropped
            UNION ALL
            SELECT 'constraint ' || c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid)
              FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
             WHERE c.relname IN ('daily_asset_snapshots', 'asset_changes', 'users') AND k.conparentid = 0
            UNION ALL
            SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes
             WHERE tablename IN ('daily_asset_snapshots', 'asset_changes') OR (tablename = 'users' AND indexdef LIKE '%current_snapshot%')
            UNION ALL
            SELECT 'partitioned ' || c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
            """, connection);
        var catalog = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            catalog.Add(reader.GetString(0));
        catalog.Sort(StringComparer.Ordinal);
        return catalog;
    }



    /// <summary>Reports straight away, on the copy's own thread (Progress&lt;T&gt; would post to the thread pool, after the fact).</summary>
    private sealed class Progress(Action<HistoryCopyProgress> report) : IProgress<HistoryCopyProgress>
    {
        public void Report(HistoryCopyProgress value) => report(value);
    }
}
