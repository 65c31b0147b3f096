using System.Data.Common;
using System.Globalization;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>Where a database's history stands on the way from the plain tables to <see cref="HistoryLayout.MonthlyPartitions"/>.</summary>
public enum HistoryMigrationStage
{
    /// <summary>SQLite: it keeps one table each, and its months go by batched deletes.</summary>
    NotApplicable,

    /// <summary>PostgreSQL's plain tables, nothing begun.</summary>
    Plain,

    /// <summary>The partitioned tables stand beside the plain ones, every write mirrored into them, the rows being copied.</summary>
    Copying,

    /// <summary>The partitioned tables carry the names; the plain ones wait, renamed, to be checked and dropped.</summary>
    Switched,

    /// <summary>Monthly partitions, nothing left of the plain tables.</summary>
    Partitioned,
}

/// <summary>A table's copy, as far as it went: the rows copied and the last id copied, of the ids up to UpperId to copy.</summary>
public sealed record HistoryCopyProgress(string Table, long RowsCopied, long CopiedThroughId, long UpperId);

/// <summary>What the migration found once the partitioned tables took over.</summary>
/// <param name="Missing">Rows of the plain tables not in the partitioned ones (by key); 0 when the migration lost nothing.</param>
/// <param name="Extra">Rows of the partitioned tables, with ids the plain tables had given, that the plain tables no longer hold.</param>
/// <param name="PlainTablesDropped">The plain tables went: nothing was missing or extra.</param>
public sealed record HistoryMigrationOutcome(long Snapshots, long Changes, long Missing, long Extra, bool PlainTablesDropped);

/// <summary>
/// Moves a PostgreSQL database's history from the plain tables (a database that held history when the MonthlyPartitions
/// migration ran) to monthly partitions while the server runs, in four steps, each safe to stop and to run again:
/// <list type="number">
/// <item><b>Prepare</b>, one short transaction: the partitioned tables are made beside the plain ones (<c>…_next</c>, their
/// columns <c>LIKE</c> the plain ones so every statement reads the same columns in the same order after the switch), one
/// partition per month from the oldest snapshot's to two months ahead and a DEFAULT each, and statement triggers on the plain
/// tables that write every insert, update and delete into them, in the writer's own transaction. The lock it takes first
/// waits for the writes in flight, so every row not mirrored was committed before it and is there for the copy.</item>
/// <item><b>Copy</b>, in batches of ids, each its own transaction, snapshots before their change rows (whose foreign key
/// needs them): a batch takes a key-share lock on the rows it copies, so a delete cannot slip between its read and its
/// insert (a row the copy missed would be mirrored, a row it copied after its delete would stay for ever); a row already
/// mirrored keeps its newer version. A batch waits for a writer at most <see cref="BatchLockTimeout"/>, then gives way and
/// tries again: the refresh never waits behind the copy, nor deadlocks with it. Progress is kept in
/// <c>history_layout_migration</c>, so a stopped copy goes on from its last batch.</item>
/// <item><b>Switch</b>, one transaction under <see cref="HistoryPartitions.LockTimeout"/>: the triggers go, the plain tables
/// and their indexes take a <c>_plain</c> suffix, the partitioned ones take the names, their ids go on from the plain
/// tables' sequences, and the users' pointer gets its two-column foreign key (NOT VALID: checked in the next step,
/// without a lock that stops writes).</item>
/// <item><b>Finish</b>: the pointer's key is validated, the plain tables are compared with the partitioned ones row key by
/// row key and dropped when nothing is missing or extra; otherwise they are kept and the outcome says how many rows
/// differ.</item>
/// </list>
/// </summary>
/// <remarks>
/// DDL takes no parameters: every name here is a constant of this class or <see cref="HistoryPartitions"/>, and every bound a
/// <see cref="DateOnly"/> or a number formatted here. The target layout is the one the MonthlyPartitions migration gives a
/// new database (its keys, indexes and constraint names); a test compares the two catalogs.
/// </remarks>
public sealed partial class HistoryLayoutMigration(
    DontGoBackDbContext db, HistoryPartitions partitions, TimeProvider time, ILogger<HistoryLayoutMigration> logger)
{
    public const string NextSuffix = "_next";
    public const string PlainSuffix = "_plain";
    public const string ProgressTable = "history_layout_migration";

    /// <summary>How long a copy batch waits for a row a writer holds before it gives way and tries again.</summary>
    public const string BatchLockTimeout = "200ms";

    public const int DefaultBatchSize = 20_000;

    /// <summary>The advisory lock a migration holds while it runs (pg_try_advisory_lock of its hashtext).</summary>
    public const string RunLockName = "dontgoback.migrate-history";

    /// <summary>Tries of one batch or one switch before the migration stops, saying the database stayed too busy.</summary>
    private const int MaxTries = 600;

    private static readonly string[] Tables = [HistoryPartitions.SnapshotTable, HistoryPartitions.ChangeTable];

    /// <summary>The partitioned tables' keys and indexes as a new database has them (the MonthlyPartitions migration), by name.</summary>
    private static readonly (string Table, string Name, string Definition)[] NextIndexes =
    [
        (HistoryPartitions.SnapshotTable, "pk_daily_asset_snapshots", "PRIMARY KEY (id, snapshot_day)"),
        (HistoryPartitions.SnapshotTable, "ix_daily_asset_snapshots_user_id_snapshot_day", "UNIQUE (user_id, snapshot_day)"),
        (HistoryPartitions.ChangeTable, "pk_asset_changes", "PRIMARY KEY (id, snapshot_day)"),
        (HistoryPartitions.ChangeTable, "ix_asset_changes_snapshot_id_snapshot_day", "(snapshot_id, snapshot_day)"),
        (HistoryPartitions.ChangeTable, "ix_asset_changes_user_id_idempotency_key", "(user_id, idempotency_key)"),
        (HistoryPartitions.ChangeTable, "ix_asset_changes_user_id_snapshot_day", "(user_id, snapshot_day)"),
    ];

    private const string PointerIndex = "ix_users_current_snapshot_id_current_snapshot_day";
    private const string PlainPointerIndex = "ix_users_current_snapshot_id";
    private const string PointerKey = "fk_users_daily_asset_snapshots_current_snapshot_id_current_sna";
    private const string PlainPointerKey = "fk_users_daily_asset_snapshots_current_snapshot_id";

    public async Task<HistoryMigrationStage> StageAsync(CancellationToken cancellationToken)
    {
        if (!db.Database.IsNpgsql())
            return HistoryMigrationStage.NotApplicable;
        if (await partitions.LayoutAsync(cancellationToken) == HistoryLayout.MonthlyPartitions)
        {
            return await ExistsAsync(ProgressTable, cancellationToken) || await ExistsAsync(Plain(HistoryPartitions.SnapshotTable), cancellationToken)
                ? HistoryMigrationStage.Switched
                : HistoryMigrationStage.Partitioned;
        }
        return await ExistsAsync(Next(HistoryPartitions.SnapshotTable), cancellationToken) ? HistoryMigrationStage.Copying : HistoryMigrationStage.Plain;
    }

    /// <summary>Every step still to do, from wherever the database stands; nothing on SQLite or on a partitioned database.</summary>
    public async Task<HistoryMigrationOutcome?> RunAsync(int batchSize, IProgress<HistoryCopyProgress> progress, CancellationToken cancellationToken)
    {
        var stage = await StageAsync(cancellationToken);
        if (stage is HistoryMigrationStage.NotApplicable or HistoryMigrationStage.Partitioned)
            return null;
        // One migration at a time: a second would copy the same batches, and fail half-way through the switch the first made.
        // The lock is the session's: it goes with the connection, however this process ends.
        var connection = await OpenAsync(cancellationToken);
        if (!await ScalarAsync<bool>(connection, $"SELECT pg_try_advisory_lock(hashtext('{RunLockName}'))", cancellationToken))
            throw new InvalidOperationException("another migrate-history is running on this database; wait for it to end (it goes on from where any stopped run left off)");
        try
        {
            return await RunStepsAsync(await StageAsync(cancellationToken), batchSize, progress, cancellationToken);
        }
        finally
        {
            await ScalarAsync<bool>(connection, $"SELECT pg_advisory_unlock(hashtext('{RunLockName}'))", CancellationToken.None);
        }
    }

    private async Task<HistoryMigrationOutcome> RunStepsAsync(
        HistoryMigrationStage stage, int batchSize, IProgress<HistoryCopyProgress> progress, CancellationToken cancellationToken)
    {
        if (stage == HistoryMigrationStage.Plain)
            await PrepareAsync(cancellationToken);
        if (stage is HistoryMigrationStage.Plain or HistoryMigrationStage.Copying)
        {
            await CopyAsync(batchSize, progress, cancellationToken);
            await SwitchAsync(cancellationToken);
        }
        return await FinishAsync(cancellationToken);
    }

    /// <summary>Step 1: the partitioned tables beside the plain ones, with the triggers that keep them in step.</summary>
    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken);
        // Built before the lock, without one on users: the switch's foreign key needs it, and building it under the switch's
        // lock would hold every pointer update for as long as the index takes at ten million users.
        await EnsurePointerIndexAsync(connection, cancellationToken);
        var columns = new Dictionary<string, List<string>>();
        foreach (var table in Tables)
            columns[table] = await ColumnsAsync(connection, table, cancellationToken);
        if (!columns[HistoryPartitions.ChangeTable].Contains("snapshot_day"))
            throw new InvalidOperationException($"{HistoryPartitions.ChangeTable} has no snapshot_day column: run the server once to apply its migrations first.");

        var now = time.GetUtcNow().UtcDateTime;
        var through = new DateOnly(now.Year, now.Month, 1).AddMonths(HistoryPartitions.MonthsAhead);
        await RetryWhileBusyAsync("prepare", async () =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await ExecuteAsync(connection, $"""
                SET LOCAL lock_timeout = '{HistoryPartitions.LockTimeout}';
                LOCK TABLE {HistoryPartitions.SnapshotTable}, {HistoryPartitions.ChangeTable} IN SHARE ROW EXCLUSIVE MODE;
                """, cancellationToken);
            var oldest = await ScalarAsync<DateOnly?>(connection, $"SELECT min(snapshot_day) FROM {HistoryPartitions.SnapshotTable}", cancellationToken);
            var first = oldest is { } day ? new DateOnly(day.Year, day.Month, 1) : through;
            await ExecuteAsync(connection, NextTablesSql(first < through ? first : through, through), cancellationToken);
            foreach (var table in Tables)
                await ExecuteAsync(connection, MirrorTriggersSql(table, columns[table]), cancellationToken);
            // The bounds are read under the lock, after the triggers exist: every row with a higher id is written by a trigger.
            await ExecuteAsync(connection, $"""
                CREATE TABLE {ProgressTable} (table_name text PRIMARY KEY, upper_id bigint NOT NULL, copied_through_id bigint NOT NULL, rows_copied bigint NOT NULL);
                INSERT INTO {ProgressTable} SELECT '{HistoryPartitions.SnapshotTable}', coalesce(max(id), 0), 0, 0 FROM {HistoryPartitions.SnapshotTable};
                INSERT INTO {ProgressTable} SELECT '{HistoryPartitions.ChangeTable}', coalesce(max(id), 0), 0, 0 FROM {HistoryPartitions.ChangeTable};
                """, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }, cancellationToken);
        LogPrepared(HistoryPartitions.SnapshotTable, HistoryPartitions.ChangeTable);
    }

    /// <summary>Step 2: every row the triggers did not write, snapshots first, in batches that go on from the last one done.</summary>
    public async Task CopyAsync(int batchSize, IProgress<HistoryCopyProgress> progress, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var connection = await OpenAsync(cancellationToken);
        foreach (var table in Tables)
        {
            var (upper, after, copied) = await ProgressOfAsync(connection, table, cancellationToken);
            while (after < upper)
            {
                var (last, rows) = (after, 0L);
                await RetryWhileBusyAsync($"copy of {table}", async () =>
                {
                    await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                    await ExecuteAsync(connection, $"SET LOCAL lock_timeout = '{BatchLockTimeout}'", cancellationToken);
                    await using var batch = new NpgsqlCommand($"""
                        WITH batch AS (
                            SELECT * FROM {table} WHERE id > @after AND id <= @upper ORDER BY id LIMIT @size FOR KEY SHARE),
                        copied AS (
                            INSERT INTO {Next(table)} SELECT * FROM batch ON CONFLICT DO NOTHING RETURNING 1)
                        SELECT coalesce((SELECT max(id) FROM batch), @upper), (SELECT count(*) FROM copied)
                        """, connection, transaction);
                    batch.Parameters.AddWithValue("after", after);
                    batch.Parameters.AddWithValue("upper", upper);
                    batch.Parameters.AddWithValue("size", batchSize);
                    batch.CommandTimeout = 0;
                    await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
                    {
                        await reader.ReadAsync(cancellationToken);
                        (last, rows) = (reader.GetInt64(0), reader.GetInt64(1));
                    }
                    await using var record = new NpgsqlCommand(
                        $"UPDATE {ProgressTable} SET copied_through_id = @last, rows_copied = rows_copied + @rows WHERE table_name = @table",
                        connection, transaction);
                    record.Parameters.AddWithValue("last", last);
                    record.Parameters.AddWithValue("rows", rows);
                    record.Parameters.AddWithValue("table", table);
                    await record.ExecuteNonQueryAsync(cancellationToken);
                    await transaction.CommitAsync(cancellationToken);
                }, cancellationToken);
                (after, copied) = (last, copied + rows);
                progress.Report(new HistoryCopyProgress(table, copied, after, upper));
            }
            LogCopied(table, copied);
        }
    }

    /// <summary>Step 3: the partitioned tables take the names, in one short transaction.</summary>
    public async Task SwitchAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken);
        foreach (var table in Tables)
        {
            var (upper, after, _) = await ProgressOfAsync(connection, table, cancellationToken);
            if (after < upper)
                throw new InvalidOperationException($"{table} is copied through id {after} of {upper}: copy it to the end before the switch.");
        }
        var (snapshots, changes) = (HistoryPartitions.SnapshotTable, HistoryPartitions.ChangeTable);
        var held = TimeSpan.Zero;
        await RetryWhileBusyAsync("switch", async () =>
        {
            var started = time.GetTimestamp();
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            // History first, then users: the order the refresh and the adjustments take them in, so the switch never closes
            // a circle with a writer; it waits for the writes in flight at most LockTimeout and then gives way and tries again.
            await ExecuteAsync(connection, $"""
                SET LOCAL lock_timeout = '{HistoryPartitions.LockTimeout}';
                LOCK TABLE {snapshots}, {changes}, {Next(snapshots)}, {Next(changes)} IN ACCESS EXCLUSIVE MODE;
                LOCK TABLE users IN ACCESS EXCLUSIVE MODE;
                """, cancellationToken);
            foreach (var table in Tables)
            {
                await ExecuteAsync(connection, $"""
                    DROP TRIGGER {MirrorName(table, "insert")} ON {table};
                    DROP TRIGGER {MirrorName(table, "update")} ON {table};
                    DROP TRIGGER {MirrorName(table, "delete")} ON {table};
                    DROP FUNCTION {MirrorName(table, "insert")}(), {MirrorName(table, "update")}(), {MirrorName(table, "delete")}();
                    """, cancellationToken);
            }
            await ExecuteAsync(connection, $"ALTER TABLE users DROP CONSTRAINT IF EXISTS {PlainPointerKey};", cancellationToken);
            foreach (var table in Tables)
            {
                // The plain table's indexes and sequence step aside first: the partitioned table's take their names.
                await ExecuteAsync(connection, $"""
                    DO $$
                    DECLARE
                        index_name text;
                        plain_sequence text := pg_get_serial_sequence('{table}', 'id');
                        next_sequence text := pg_get_serial_sequence('{Next(table)}', 'id');
                    BEGIN
                        FOR index_name IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = '{table}'::regclass LOOP
                            EXECUTE format('ALTER INDEX %I RENAME TO %I', index_name, left(index_name, 63 - length('{PlainSuffix}')) || '{PlainSuffix}');
                        END LOOP;
                        -- Ids go on from where the plain table left them.
                        PERFORM setval(next_sequence, nextval(plain_sequence), false);
                        EXECUTE format('ALTER SEQUENCE %s RENAME TO %I', plain_sequence, '{Plain(table)}_id_seq');
                        ALTER TABLE {table} RENAME TO {Plain(table)};
                        EXECUTE format('ALTER SEQUENCE %s RENAME TO %I', next_sequence, '{table}_id_seq');
                        ALTER TABLE {Next(table)} RENAME TO {table};
                    END $$;
                    """, cancellationToken);
            }
            foreach (var (_, name, _) in NextIndexes)
                await ExecuteAsync(connection, $"ALTER INDEX {name}{NextSuffix} RENAME TO {name};", cancellationToken);
            await ExecuteAsync(connection, $"""
                ALTER TABLE users ADD CONSTRAINT {PointerKey} FOREIGN KEY (current_snapshot_id, current_snapshot_day)
                    REFERENCES {snapshots} (id, snapshot_day) ON DELETE RESTRICT NOT VALID;
                """, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            held = time.GetElapsedTime(started);
        }, cancellationToken);
        LogSwitched(snapshots, changes, (long)held.TotalMilliseconds);
    }

    /// <summary>Step 4: the pointer's key checked, the plain tables compared with the partitioned ones and dropped when equal.</summary>
    public async Task<HistoryMigrationOutcome> FinishAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(connection, $"ALTER TABLE users VALIDATE CONSTRAINT {PointerKey};", cancellationToken);
        await ExecuteAsync(connection, $"DROP INDEX CONCURRENTLY IF EXISTS {PlainPointerIndex};", cancellationToken);
        long missing = 0, extra = 0;
        var plainLeft = await ExistsAsync(Plain(HistoryPartitions.SnapshotTable), cancellationToken);
        if (plainLeft)
        {
            foreach (var table in Tables)
            {
                // By key, not by contents: an adjustment since the switch changes today's row in the partitioned table alone.
                missing += await ScalarAsync<long>(connection, $"""
                    SELECT count(*) FROM {Plain(table)} p WHERE NOT EXISTS (SELECT 1 FROM {table} n WHERE n.id = p.id AND n.snapshot_day = p.snapshot_day)
                    """, cancellationToken);
                extra += await ScalarAsync<long>(connection, $"""
                    SELECT count(*) FROM {table} n
                     WHERE n.id <= (SELECT coalesce(max(id), 0) FROM {Plain(table)})
                       AND NOT EXISTS (SELECT 1 FROM {Plain(table)} p WHERE p.id = n.id AND p.snapshot_day = n.snapshot_day)
                    """, cancellationToken);
            }
        }
        var dropped = plainLeft && missing == 0 && extra == 0;
        if (dropped)
        {
            await ExecuteAsync(connection, $"DROP TABLE {Plain(HistoryPartitions.ChangeTable)}, {Plain(HistoryPartitions.SnapshotTable)};", cancellationToken);
            LogPlainDropped(Plain(HistoryPartitions.SnapshotTable), Plain(HistoryPartitions.ChangeTable));
        }
        else if (plainLeft)
        {
            LogPlainKept(Plain(HistoryPartitions.SnapshotTable), Plain(HistoryPartitions.ChangeTable), missing, extra);
        }
        if (!plainLeft || dropped)
            await ExecuteAsync(connection, $"DROP TABLE IF EXISTS {ProgressTable};", cancellationToken);
        var snapshots = await ScalarAsync<long>(connection, $"SELECT count(*) FROM {HistoryPartitions.SnapshotTable}", cancellationToken);
        var changes = await ScalarAsync<long>(connection, $"SELECT count(*) FROM {HistoryPartitions.ChangeTable}", cancellationToken);
        return new HistoryMigrationOutcome(snapshots, changes, missing, extra, dropped);
    }

    /// <summary>The partitioned tables, named <c>…_next</c>, their indexes likewise, their partitions by the names they keep.</summary>
    private static string NextTablesSql(DateOnly firstMonth, DateOnly lastMonth)
    {
        var (snapshots, changes) = (HistoryPartitions.SnapshotTable, HistoryPartitions.ChangeTable);
        var sql = new System.Text.StringBuilder();
        foreach (var table in Tables)
        {
            // LIKE keeps the plain table's columns in their order, its NOT NULLs, CHECKs, defaults and identity.
            sql.AppendLine(CultureInfo.InvariantCulture, $"""
                CREATE TABLE {Next(table)} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY) PARTITION BY RANGE (snapshot_day);
                CREATE TABLE {HistoryPartitions.DefaultPartitionName(table)} PARTITION OF {Next(table)} DEFAULT;
                """);
        }
        foreach (var (table, name, definition) in NextIndexes)
        {
            sql.AppendLine(definition.StartsWith("PRIMARY KEY", StringComparison.Ordinal)
                ? $"ALTER TABLE {Next(table)} ADD CONSTRAINT {name}{NextSuffix} {definition};"
                : definition.StartsWith("UNIQUE", StringComparison.Ordinal)
                    ? $"CREATE UNIQUE INDEX {name}{NextSuffix} ON {Next(table)} {definition["UNIQUE ".Length..]};"
                    : $"CREATE INDEX {name}{NextSuffix} ON {Next(table)} {definition};");
        }
        sql.AppendLine($"""
            ALTER TABLE {Next(snapshots)} ADD CONSTRAINT fk_daily_asset_snapshots_users_user_id
                FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
            ALTER TABLE {Next(changes)} ADD CONSTRAINT fk_asset_changes_users_user_id
                FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
            ALTER TABLE {Next(changes)} ADD CONSTRAINT fk_asset_changes_daily_asset_snapshots_snapshot_id_snapshot_day
                FOREIGN KEY (snapshot_id, snapshot_day) REFERENCES {Next(snapshots)} (id, snapshot_day) ON DELETE CASCADE;
            """);
        for (var month = firstMonth; month <= lastMonth; month = month.AddMonths(1))
        {
            var (from, to) = (HistoryPartitions.Literal(month), HistoryPartitions.Literal(month.AddMonths(1)));
            foreach (var table in Tables)
                sql.AppendLine($"CREATE TABLE {HistoryPartitions.PartitionName(table, month)} PARTITION OF {Next(table)} FOR VALUES FROM ({from}) TO ({to});");
        }
        return sql.ToString();
    }

    /// <summary>
    /// Statement triggers (with transition tables: one set-based statement per write statement, not a function call per row)
    /// that write the plain table's inserts, updates and deletes into its partitioned twin. An insert or update replaces the
    /// twin's row of the same key (a copy's older version); a snapshot's also any row of its user and day under another id.
    /// A change row's snapshot is copied first when the copy has not reached it yet: the twin's foreign key needs it.
    /// </summary>
    private static string MirrorTriggersSql(string table, List<string> columns)
    {
        var next = Next(table);
        var set = string.Join(", ", columns.Where(c => c is not ("id" or "snapshot_day")).Select(c => $"{c} = EXCLUDED.{c}"));
        var upsert = $"INSERT INTO {next} SELECT * FROM new_rows ON CONFLICT (id, snapshot_day) DO UPDATE SET {set};";
        var before = table == HistoryPartitions.SnapshotTable
            ? $"DELETE FROM {next} n USING new_rows w WHERE n.user_id = w.user_id AND n.snapshot_day = w.snapshot_day AND n.id <> w.id;"
            : $"""
              INSERT INTO {Next(HistoryPartitions.SnapshotTable)} SELECT s.* FROM {HistoryPartitions.SnapshotTable} s
               WHERE s.id IN (SELECT snapshot_id FROM new_rows) ON CONFLICT DO NOTHING;
              """;
        return $"""
            CREATE FUNCTION {MirrorName(table, "insert")}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {before}
                {upsert}
                RETURN NULL;
            END $$;
            CREATE FUNCTION {MirrorName(table, "update")}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM {next} n USING old_rows o
                 WHERE n.id = o.id AND n.snapshot_day = o.snapshot_day
                   AND NOT EXISTS (SELECT 1 FROM new_rows w WHERE w.id = o.id AND w.snapshot_day = o.snapshot_day);
                {before}
                {upsert}
                RETURN NULL;
            END $$;
            CREATE FUNCTION {MirrorName(table, "delete")}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM {next} n USING old_rows o WHERE n.id = o.id AND n.snapshot_day = o.snapshot_day;
                RETURN NULL;
            END $$;
            CREATE TRIGGER {MirrorName(table, "insert")} AFTER INSERT ON {table}
                REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {MirrorName(table, "insert")}();
            CREATE TRIGGER {MirrorName(table, "update")} AFTER UPDATE ON {table}
                REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {MirrorName(table, "update")}();
            CREATE TRIGGER {MirrorName(table, "delete")} AFTER DELETE ON {table}
                REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {MirrorName(table, "delete")}();
            """;
    }

    private async Task EnsurePointerIndexAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        // A concurrent build stopped half-way leaves an invalid index behind: it is built again.
        if (await ScalarAsync<bool?>(connection, $"""
                SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = '{PointerIndex}'
                """, cancellationToken) == false)
        {
            await ExecuteAsync(connection, $"DROP INDEX CONCURRENTLY {PointerIndex};", cancellationToken);
        }
        await ExecuteAsync(connection, $"CREATE INDEX CONCURRENTLY IF NOT EXISTS {PointerIndex} ON users (current_snapshot_id, current_snapshot_day);",
            cancellationToken);
    }

    private static async Task<List<string>> ColumnsAsync(NpgsqlConnection connection, string table, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = @table::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum", connection);
        command.Parameters.AddWithValue("table", table);
        var columns = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            columns.Add(reader.GetString(0));
        return columns;
    }

    private static async Task<(long Upper, long After, long Copied)> ProgressOfAsync(NpgsqlConnection connection, string table, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT upper_id, copied_through_id, rows_copied FROM {ProgressTable} WHERE table_name = @table", connection);
        command.Parameters.AddWithValue("table", table);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            throw new InvalidOperationException($"{ProgressTable} has no row for {table}: the migration's first step did not finish; drop {Next(table)} and start again.");
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    /// <summary>
    /// Runs a step's transaction again while the database says a lock was not had in time or a deadlock was broken, a
    /// moment later each time: the step gives way to the refresh rather than make it wait.
    /// </summary>
    private async Task RetryWhileBusyAsync(string step, Func<Task> attempt, CancellationToken cancellationToken)
    {
        for (var tries = 1; ; tries++)
        {
            try
            {
                await attempt();
                return;
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected && tries < MaxTries)
            {
                if (tries == 1 || tries % 50 == 0)
                    LogGaveWay(step, tries, e.MessageText);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(50 * tries, 1_000)), time, cancellationToken);
            }
        }
    }

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        await db.Database.OpenConnectionAsync(cancellationToken);
        return (NpgsqlConnection)db.Database.GetDbConnection();
    }

    private Task<bool> ExistsAsync(string relation, CancellationToken cancellationToken) =>
        HistoryPartitions.RelationExistsAsync(db, relation, cancellationToken);

    /// <summary>Runs SQL made here from names and dates (see the remarks); no time limit: a step on ten million users takes minutes.</summary>
    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<T> ScalarAsync<T>(DbConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = 0;
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is null or DBNull ? default! : (T)value;
    }

    private static string Next(string table) => table + NextSuffix;

    public static string Plain(string table) => table + PlainSuffix;

    private static string MirrorName(string table, string operation) => $"history_mirror_{table}_{operation}";


    [LoggerMessage(Level = LogLevel.Information, Message = "History migration: {Snapshots} and {Changes} have partitioned twins, every write mirrored into them; copying the rows")]
    private partial void LogPrepared(string snapshots, string changes);

    [LoggerMessage(Level = LogLevel.Information, Message = "History migration: {Table} copied ({Rows} rows)")]
    private partial void LogCopied(string table, long rows);

    [LoggerMessage(Level = LogLevel.Information, Message = "History migration: {Snapshots} and {Changes} are now partitioned by month (the switch took {Milliseconds} ms, its locks waited for included)")]
    private partial void LogSwitched(string snapshots, string changes, long milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "History migration: the plain tables {Snapshots} and {Changes} held the same rows and were dropped")]
    private partial void LogPlainDropped(string snapshots, string changes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "History migration: the plain tables {Snapshots} and {Changes} are kept: {Missing} of their rows are not in the partitioned tables and {Extra} rows there are not in them (history-maintenance may have let rows go since the switch); check, then drop them by hand")]
    private partial void LogPlainKept(string snapshots, string changes, long missing, long extra);

    [LoggerMessage(Level = LogLevel.Information, Message = "History migration: {Step} gave way to the writes in flight ({Tries} tries so far: {Reason}); trying again")]
    private partial void LogGaveWay(string step, int tries, string reason);
}
