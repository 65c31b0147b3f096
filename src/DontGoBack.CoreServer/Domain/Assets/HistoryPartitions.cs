using System.Globalization;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>How the daily history is stored.</summary>
public enum HistoryLayout
{
    /// <summary>One table each (SQLite; a PostgreSQL database that held history before the MonthlyPartitions migration): months go by batched deletes.</summary>
    Plain,

    /// <summary>PostgreSQL: snapshots and change rows range-partitioned by month of snapshot_day, each with a DEFAULT partition.</summary>
    MonthlyPartitions,
}

/// <summary>A month's partitions let go: the bytes they held (both tables, indexes included) and the rows kept out of them.</summary>
/// <param name="Partitions">Partitions dropped: the change rows' and the snapshots'.</param>
/// <param name="BytesFreed">pg_total_relation_size of both before the drop.</param>
/// <param name="PointerRowsKept">Snapshots a user's pointer was on, moved to the default partition with their change rows before the detach.</param>
public sealed record MonthPartitionsDropped(int Partitions, long BytesFreed, long PointerRowsKept);

/// <summary>
/// The one place that knows how the history is laid out. On PostgreSQL <c>daily_asset_snapshots</c> and <c>asset_changes</c> are
/// range-partitioned by month of <c>snapshot_day</c> (native declarative partitioning: it needs no extension, and the
/// lifecycle already decides by month, so pg_partman would add a scheduler of its own to keep in step with ours), one
/// partition per month named by <see cref="PartitionName"/>, and a DEFAULT partition each, so a write never fails for want
/// of a month: it lands there, <c>history-maintenance</c> warns, and the month's creation moves it in.
/// </summary>
/// <remarks>
/// A partitioned table's keys hold its partition key, so a snapshot's key is (id, snapshot_day) and the users' pointer is
/// the two columns (current_snapshot_id, current_snapshot_day); the change rows' key to their snapshot likewise.
/// <para>
/// A PostgreSQL database that already held history when the MonthlyPartitions migration ran keeps its plain tables (a
/// rewrite would block start-up for minutes at ten million users) and is told apart here by pg_partitioned_table, until
/// <see cref="HistoryLayoutMigration"/> (`migrate-history`) moves it while the server runs; then <see cref="LayoutAsync"/>
/// reads <see cref="HistoryLayout.MonthlyPartitions"/> and everything here applies.
/// </para>
/// <para>
/// DDL takes no parameters: every name and bound below is made from a <see cref="DateOnly"/> here, never from input.
/// DETACH … CONCURRENTLY is not allowed while a DEFAULT partition exists (a PostgreSQL rule), so a month goes by a plain
/// DETACH and DROP in one short transaction, under <see cref="LockTimeout"/> so it never queues the refresh behind it.
/// </para>
/// </remarks>
public sealed class HistoryPartitions(DontGoBackDbContext db)
{
    public const string SnapshotTable = "daily_asset_snapshots";
    public const string ChangeTable = "asset_changes";

    /// <summary>Months created ahead of the month of the day maintenance runs for (that month and the next two).</summary>
    public const int MonthsAhead = 2;

    /// <summary>How long DDL waits for the tables' locks before it gives up for this run.</summary>
    public const string LockTimeout = "5s";

    /// <summary>The partition of <paramref name="table"/> holding <paramref name="month"/>: e.g. daily_asset_snapshots_y2026m12.</summary>
    public static string PartitionName(string table, DateOnly month) =>
        string.Create(CultureInfo.InvariantCulture, $"{table}_y{month.Year:0000}m{month.Month:00}");

    public static string DefaultPartitionName(string table) => $"{table}_default";

    public async Task<HistoryLayout> LayoutAsync(CancellationToken cancellationToken) =>
        db.Database.IsNpgsql() && await db.Database.SqlQuery<bool>($"""
            SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass({SnapshotTable})) AS "Value"
            """).SingleAsync(cancellationToken)
            ? HistoryLayout.MonthlyPartitions
            : HistoryLayout.Plain;

    /// <summary>Whether <paramref name="month"/> has its own partitions (on the plain layout: never).</summary>
    public Task<bool> HasMonthAsync(DateOnly month, CancellationToken cancellationToken) =>
        RelationExistsAsync(db, PartitionName(SnapshotTable, month), cancellationToken);

    /// <summary>Whether a table or index of that name exists in the search path (PostgreSQL).</summary>
    internal static async Task<bool> RelationExistsAsync(DontGoBackDbContext db, string relation, CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<bool>($"""SELECT to_regclass({relation}) IS NOT NULL AS "Value" """).SingleAsync(cancellationToken);

    /// <summary>
    /// Creates the partitions of the month of <paramref name="day"/> and the <see cref="MonthsAhead"/> after it that are
    /// missing; returns the months created. Rows of such a month the default partitions caught are moved into it in the
    /// same transaction (PostgreSQL refuses a month whose rows the default holds).
    /// </summary>
    public async Task<IReadOnlyList<DateOnly>> CreateAheadAsync(DateOnly day, CancellationToken cancellationToken)
    {
        var created = new List<DateOnly>();
        var first = new DateOnly(day.Year, day.Month, 1);
        for (var month = first; month <= first.AddMonths(MonthsAhead); month = month.AddMonths(1))
        {
            if (await HasMonthAsync(month, cancellationToken))
                continue;
            await CreateMonthAsync(month, cancellationToken);
            created.Add(month);
        }
        return created;
    }

    private async Task CreateMonthAsync(DateOnly month, CancellationToken cancellationToken)
    {
        var (from, to) = (Literal(month), Literal(month.AddMonths(1)));
        var (snapshots, changes) = (DefaultPartitionName(SnapshotTable), DefaultPartitionName(ChangeTable));
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync($"SET LOCAL lock_timeout = '{LockTimeout}'", cancellationToken);
        // The default's rows of the month leave it before the month exists, pointers and change rows with them, and come
        // back through the parent into the new partitions; nothing outside this transaction sees them gone.
        var moving = await MoveOutAsync(
            $"SELECT * FROM {snapshots} WHERE snapshot_day >= {from} AND snapshot_day < {to}",
            $"SELECT * FROM {changes} WHERE snapshot_day >= {from} AND snapshot_day < {to}",
            cancellationToken);
        if (moving > 0)
        {
            await ExecuteAsync($"""
                DELETE FROM {changes} WHERE snapshot_day >= {from} AND snapshot_day < {to};
                DELETE FROM {snapshots} WHERE snapshot_day >= {from} AND snapshot_day < {to};
                """, cancellationToken);
        }
        await ExecuteAsync($"""
            CREATE TABLE {PartitionName(SnapshotTable, month)} PARTITION OF {SnapshotTable} FOR VALUES FROM ({from}) TO ({to});
            CREATE TABLE {PartitionName(ChangeTable, month)} PARTITION OF {ChangeTable} FOR VALUES FROM ({from}) TO ({to});
            """, cancellationToken);
        if (moving > 0)
            await MoveBackAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Lets <paramref name="month"/>'s partitions go, change rows first: the snapshots users' pointers are on (and their
    /// change rows) are moved to the default partitions, then both partitions are detached and dropped, in one transaction.
    /// Null when the month has no partitions of its own.
    /// </summary>
    public async Task<MonthPartitionsDropped?> DropMonthAsync(DateOnly month, CancellationToken cancellationToken)
    {
        if (!await HasMonthAsync(month, cancellationToken))
            return null;
        var (from, to) = (Literal(month), Literal(month.AddMonths(1)));
        var (snapshots, changes) = (PartitionName(SnapshotTable, month), PartitionName(ChangeTable, month));
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync($"SET LOCAL lock_timeout = '{LockTimeout}'", cancellationToken);
        var bytes = await db.Database.SqlQuery<long>($"""
            SELECT pg_total_relation_size(to_regclass({snapshots})) + coalesce(pg_total_relation_size(to_regclass({changes})), 0) AS "Value"
            """).SingleAsync(cancellationToken);
        // Users not refreshed since the month (dormant ones) keep their balance: their pointer's snapshot and its change
        // rows. The foreign key refuses a detach that would orphan a pointer, so they leave the partition first.
        var kept = await MoveOutAsync(
            $"""
            SELECT s.* FROM {snapshots} s
              JOIN users u ON u.current_snapshot_id = s.id AND u.current_snapshot_day = s.snapshot_day
             WHERE u.current_snapshot_day >= {from} AND u.current_snapshot_day < {to}
            """,
            $"SELECT c.* FROM {changes} c WHERE c.snapshot_id IN (SELECT id FROM history_moving_snapshots)",
            cancellationToken);
        // The change rows' partition is dropped before the snapshots' detach: detached, it would keep a foreign key to the
        // snapshots of its own, and the detach would find its rows still referring to them.
        // That detach has PostgreSQL check each key referring to the snapshots with a join of the partition and the
        // referring table (all of asset_changes: it cannot prune by the partition's range). Left to choose, the planner
        // hashes and reads the month's every snapshot (2.5–5.3 s at 200,000 users); kept to a nested loop, it probes the
        // partition's key once per change row left (0.12 s). Only for these statements, and the JIT compile a
        // check of that estimated cost would start is skipped too.
        // Everything the drops need, up front and in the order the refresh and the reads take them: users first, then both
        // parents, snapshots then change rows, and with them every partition. Dropping the change partition removes its
        // foreign key's triggers from users (ACCESS EXCLUSIVE there) and each snapshot partition's; taken one by one, a
        // refresh chunk holding its users and waiting for the snapshots deadlocked with it (seen beside the bulk refresh,
        // 2026-12-08, first with a snapshot partition, then with users), and so could any read of users and the history.
        // Reads and writes of users wait for this transaction (about a second; longer for the month the dormant users'
        // pointers are on, whose snapshots move out and back). Waiting here is for the chunks that already hold them.
        await ExecuteAsync($"""
            LOCK TABLE users, {SnapshotTable}, {ChangeTable} IN ACCESS EXCLUSIVE MODE;
            SET LOCAL enable_hashjoin = off;
            SET LOCAL enable_mergejoin = off;
            SET LOCAL jit = off;
            ALTER TABLE {ChangeTable} DETACH PARTITION {changes};
            DROP TABLE {changes};
            ALTER TABLE {SnapshotTable} DETACH PARTITION {snapshots};
            SET LOCAL enable_hashjoin TO DEFAULT;
            SET LOCAL enable_mergejoin TO DEFAULT;
            SET LOCAL jit TO DEFAULT;
            """, cancellationToken);
        if (kept > 0)
            await MoveBackAsync(cancellationToken);
        await ExecuteAsync($"DROP TABLE {snapshots};", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new MonthPartitionsDropped(2, bytes, kept);
    }

    /// <summary>
    /// Inside the caller's transaction: copies the snapshots <paramref name="selectSnapshots"/> finds and the change rows
    /// <paramref name="selectChanges"/> finds (it may read history_moving_snapshots) aside, and takes the pointers on those
    /// snapshots off them; returns the snapshots copied. <see cref="MoveBackAsync"/> puts all of it back through the parents.
    /// </summary>
    private async Task<long> MoveOutAsync(string selectSnapshots, string selectChanges, CancellationToken cancellationToken)
    {
        await ExecuteAsync($"""
            CREATE TEMP TABLE history_moving_snapshots ON COMMIT DROP AS {selectSnapshots};
            CREATE TEMP TABLE history_moving_changes ON COMMIT DROP AS {selectChanges};
            CREATE TEMP TABLE history_moving_pointers ON COMMIT DROP AS
                SELECT u.id, u.current_snapshot_id, u.current_snapshot_day
                  FROM users u JOIN history_moving_snapshots s ON s.id = u.current_snapshot_id AND s.snapshot_day = u.current_snapshot_day;
            UPDATE users u SET current_snapshot_id = NULL, current_snapshot_day = NULL FROM history_moving_pointers p WHERE u.id = p.id;
            """, cancellationToken);
        return await db.Database.SqlQuery<long>($"""SELECT count(*) AS "Value" FROM history_moving_snapshots""").SingleAsync(cancellationToken);
    }

    private async Task MoveBackAsync(CancellationToken cancellationToken) =>
        await ExecuteAsync($"""
            INSERT INTO {SnapshotTable} SELECT * FROM history_moving_snapshots;
            INSERT INTO {ChangeTable} SELECT * FROM history_moving_changes ORDER BY id;
            UPDATE users u SET current_snapshot_id = p.current_snapshot_id, current_snapshot_day = p.current_snapshot_day
              FROM history_moving_pointers p WHERE u.id = p.id;
            """, cancellationToken);

    /// <summary>
    /// Rows the default partitions hold on or after the first day of the oldest month that has partitions: writes that
    /// found no partition (a day past the months created ahead). Older rows there are expected: history from before the
    /// first partition, and the pointers' snapshots kept from months dropped.
    /// </summary>
    public async Task<long> StrayDefaultRowsAsync(CancellationToken cancellationToken)
    {
        var prefix = SnapshotTable + "_y";
        var oldest = await db.Database.SqlQuery<string?>($"""
            SELECT min(c.relname::text) AS "Value"
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = to_regclass({SnapshotTable}) AND starts_with(c.relname::text, {prefix})
            """).SingleAsync(cancellationToken);
        if (oldest is null)
            return 0;
        var month = DateOnly.ParseExact(oldest[prefix.Length..], "yyyy'm'MM", CultureInfo.InvariantCulture);
        var count = $"""SELECT count(*) AS "Value" FROM {DefaultPartitionName(SnapshotTable)} WHERE snapshot_day >= {Literal(month)}""";
        return await db.Database.SqlQueryRaw<long>(count).SingleAsync(cancellationToken);
    }

    /// <summary>Runs SQL made here from names and dates (see the remarks): DDL takes no parameters.</summary>
    private Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken) => db.Database.ExecuteSqlRawAsync(sql, cancellationToken);

    /// <summary>A date as an SQL literal, for the DDL made here (partition bounds take no parameters).</summary>
    internal static string Literal(DateOnly day) => string.Create(CultureInfo.InvariantCulture, $"DATE '{day:yyyy-MM-dd}'");
}
