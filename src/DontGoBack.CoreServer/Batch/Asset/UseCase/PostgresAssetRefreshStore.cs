using System.Data.Common;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;
using Npgsql;

namespace DontGoBack.CoreServer.Batch.Asset.UseCase;

/// <remarks>Not sealed: a test stands in a commit whose answer is lost on the way back.</remarks>
public class PostgresAssetRefreshStore(NpgsqlDataSource dataSource, DatabaseRetry retry) : AssetRefreshStore(retry)
{
    // Adjustments lock the user's row first too, so they wait for this chunk or it waits for them.
    // Taken in id order so two chunks cannot deadlock. (Advisory locks would spare the row writes,
    // but one per user fills PostgreSQL's shared lock table at large chunks.)
    private const string LockUsersSql = "SELECT id FROM users WHERE id = ANY(@user_ids) ORDER BY id FOR UPDATE";

    // A statement of its own after the lock: in READ COMMITTED it sees what committed while we
    // waited, and the locked rows' pointers cannot move meanwhile. The pointer is on the user's
    // newest snapshot (a rule `verify` checks): before the day, it is the base and no later day
    // exists — one primary-key probe of yesterday's rows. Only a late write (the pointer on or past
    // the day) probes the (user_id, snapshot_day) index for the base before the day.
    internal const string BasesSql = """
        SELECT t.user_id,
               CASE WHEN c.snapshot_day < @day THEN c.closing_amount ELSE
               (SELECT s.closing_amount FROM daily_asset_snapshots s
                 WHERE s.user_id = t.user_id AND s.snapshot_day < @day
                 ORDER BY s.snapshot_day DESC LIMIT 1) END,
               coalesce(c.snapshot_day > @day, false)
          FROM unnest(@user_ids) AS t(user_id)
          LEFT JOIN users u ON u.id = t.user_id
          LEFT JOIN daily_asset_snapshots c ON c.id = u.current_snapshot_id AND c.snapshot_day = u.current_snapshot_day
        """;

    internal const string LaterSnapshotsSql = $"""
        SELECT {StoredSnapshotColumns} FROM daily_asset_snapshots
         WHERE user_id = ANY(@user_ids) AND snapshot_day > @day
         ORDER BY user_id, snapshot_day
        """;

    // Every day re-based lies after the day written: the day bounds the partitions the update reads.
    internal const string UpdateRebasedSql = """
        UPDATE daily_asset_snapshots s
           SET opening_amount = t.opening, market_delta = t.market_delta, net_flow = t.net_flow, closing_amount = t.closing, updated_at = @now
          FROM unnest(@ids, @openings, @market_deltas, @net_flows, @closings) AS t(id, opening, market_delta, net_flow, closing)
         WHERE s.id = t.id AND s.snapshot_day > @day
        """;

    // In the order given, so the change history's ids follow the balance.
    private const string InsertRebaseChangesSql = """
        INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, reason, snapshot_id, snapshot_day, changed_at)
        SELECT t.user_id, t.kind, t.before, t.after, t.after - t.before, t.reason, t.snapshot_id, t.snapshot_day, @now
          FROM unnest(@user_ids, @kinds, @befores, @afters, @reasons, @snapshot_ids, @snapshot_days)
               WITH ORDINALITY AS t(user_id, kind, before, after, reason, snapshot_id, snapshot_day, ord)
         ORDER BY t.ord
        """;

    // One round trip: snapshots inserted, pointers moved, the day's old failures cleared
    // (data-modifying CTEs run even when nothing reads them). The market move lives in the snapshot
    // alone; a late day's move is recorded by its rebase row. Under the chunk's lock the bases read
    // told which users already have a later day: for everyone else the new snapshot is the newest,
    // so the pointer moves to it without reading the old pointer's day. Answers the users inserted.
    internal const string WriteMovesSql = """
        WITH input AS (
            SELECT * FROM unnest(@user_ids, @openings, @closings, @multipliers) AS t(user_id, opening, closing, multiplier)
        ), inserted AS (
            INSERT INTO daily_asset_snapshots
                   (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
            SELECT user_id, @day, opening, closing, multiplier, closing - opening, 0, @now FROM input
            ON CONFLICT (user_id, snapshot_day) DO NOTHING
            RETURNING id, user_id
        ), moved AS (
            UPDATE users u SET current_snapshot_id = i.id, current_snapshot_day = @day
              FROM inserted i
             WHERE u.id = i.user_id AND i.user_id <> ALL(@with_later_days)
        ), cleared AS (
            DELETE FROM asset_refresh_failures f
             USING input
             WHERE f.snapshot_day = @day AND f.user_id = input.user_id
        )
        SELECT user_id FROM inserted
        """;

    // A try after one whose commit is uncertain does not count its own earlier attempt again (see ChunkTries).
    private const string RecordFailuresSql = """
        INSERT INTO asset_refresh_failures (snapshot_day, user_id, failure_class, reason, attempts, failed_at)
        SELECT @day, t.user_id, t.failure_class, t.reason, 1, @now
          FROM unnest(@user_ids, @classes, @reasons) AS t(user_id, failure_class, reason)
        ON CONFLICT (snapshot_day, user_id) DO UPDATE
           SET failure_class = excluded.failure_class,
               reason = excluded.reason,
               attempts = asset_refresh_failures.attempts
                          + CASE WHEN @retry AND asset_refresh_failures.failed_at = excluded.failed_at THEN 0 ELSE 1 END,
               failed_at = excluded.failed_at
        """;

    protected override async Task<ChunkWriteResult> WriteChunkOnceAsync(
        DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyList<RefreshFailure> failures,
        DateTimeOffset changedAt, ChunkTries tries, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await PlanForKeyedStatementsAsync(connection, transaction, cancellationToken);
        var allFailures = failures.ToList();

        var inserted = new List<long>();
        var moveCount = 0;
        var (rebasedUsers, rebasedDays) = (0, 0);
        if (refreshed.Count > 0)
        {
            var userIds = refreshed.Select(r => r.UserId).ToArray();
            await using (var lockUsers = new NpgsqlCommand(LockUsersSql, connection, transaction))
            {
                lockUsers.Parameters.AddWithValue("user_ids", userIds);
                await lockUsers.ExecuteNonQueryAsync(cancellationToken);
            }

            var basesNow = new Dictionary<long, long>(refreshed.Count);
            var withLaterDays = new List<long>();
            await using (var bases = new NpgsqlCommand(BasesSql, connection, transaction))
            {
                bases.Parameters.AddWithValue("user_ids", userIds);
                bases.Parameters.AddWithValue("day", day);
                await using var reader = await bases.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    if (!reader.IsDBNull(1))
                        basesNow[reader.GetInt64(0)] = reader.GetInt64(1);
                    if (reader.GetBoolean(2))
                        withLaterDays.Add(reader.GetInt64(0));
                }
            }

            var moves = ApplyMarketMoves(refreshed, basesNow, allFailures);
            var rebases = PlanRebases(day, moves, await LaterSnapshotsAsync(connection, transaction, day, withLaterDays, cancellationToken), allFailures);
            moveCount = moves.Count;
            await using (var write = new NpgsqlCommand(WriteMovesSql, connection, transaction))
            {
                write.Parameters.AddWithValue("user_ids", moves.Select(m => m.UserId).ToArray());
                write.Parameters.AddWithValue("openings", moves.Select(m => m.Opening).ToArray());
                write.Parameters.AddWithValue("closings", moves.Select(m => m.Closing).ToArray());
                write.Parameters.AddWithValue("multipliers", moves.Select(m => m.Multiplier).ToArray());
                write.Parameters.AddWithValue("with_later_days", withLaterDays.ToArray());
                write.Parameters.AddWithValue("day", day);
                write.Parameters.AddWithValue("now", changedAt);
                inserted = await WithOnePlanForThePointersKeyAsync(connection, transaction, async () =>
                {
                    var users = new List<long>();
                    await using var insertedUsers = await write.ExecuteReaderAsync(cancellationToken);
                    while (await insertedUsers.ReadAsync(cancellationToken))
                        users.Add(insertedUsers.GetInt64(0));
                    return users;
                }, cancellationToken);
            }
            // Only where this chunk's snapshot went in: a user another run wrote first was re-based by that run.
            var applied = inserted.Where(rebases.ContainsKey).Select(id => rebases[id]).ToList();
            if (applied.Count > 0)
                await ApplyRebasesAsync(connection, transaction, day, applied, changedAt, cancellationToken);
            (rebasedUsers, rebasedDays) = (applied.Count, applied.Sum(r => r.Snapshots.Count));
            // After the writes: a late day in a month already rolled up keeps the month's roll-ups current.
            await AssetMonthRollups.RollUpAgainAsync(connection, transaction, inserted, day, cancellationToken);
        }

        if (allFailures.Count > 0)
        {
            await using var record = new NpgsqlCommand(RecordFailuresSql, connection, transaction);
            record.Parameters.AddWithValue("user_ids", allFailures.Select(f => f.UserId).ToArray());
            record.Parameters.AddWithValue("classes", allFailures.Select(f => f.Class.ToString()).ToArray());
            record.Parameters.AddWithValue("reasons", allFailures.Select(f => f.Reason).ToArray());
            record.Parameters.AddWithValue("day", day);
            record.Parameters.AddWithValue("now", changedAt);
            record.Parameters.AddWithValue("retry", tries.EarlierMayHaveCommitted);
            await record.ExecuteNonQueryAsync(cancellationToken);
        }

        tries.Committing(inserted);
        await transaction.CommitAsync(cancellationToken);
        return tries.Result(inserted, moveCount, allFailures.Count, rebasedUsers, rebasedDays);
    }

    private static async Task<List<(long UserId, StoredSnapshot Snapshot)>> LaterSnapshotsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DateOnly day, List<long> userIds, CancellationToken cancellationToken)
    {
        var later = new List<(long, StoredSnapshot)>();
        if (userIds.Count == 0)
            return later;
        await using var command = new NpgsqlCommand(LaterSnapshotsSql, connection, transaction);
        command.Parameters.AddWithValue("user_ids", userIds.ToArray());
        command.Parameters.AddWithValue("day", day);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            later.Add((reader.GetInt64(1), ReadStoredSnapshot(reader)));
        return later;
    }

    private static async Task ApplyRebasesAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DateOnly day, List<UserRebase> rebases, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var snapshots = rebases.SelectMany(r => r.Snapshots).ToArray();
        await using (var update = new NpgsqlCommand(UpdateRebasedSql, connection, transaction))
        {
            update.Parameters.AddWithValue("ids", snapshots.Select(s => s.Id).ToArray());
            update.Parameters.AddWithValue("openings", snapshots.Select(s => s.Opening).ToArray());
            update.Parameters.AddWithValue("market_deltas", snapshots.Select(s => s.MarketDelta).ToArray());
            update.Parameters.AddWithValue("net_flows", snapshots.Select(s => s.NetFlow).ToArray());
            update.Parameters.AddWithValue("closings", snapshots.Select(s => s.Closing).ToArray());
            update.Parameters.AddWithValue("now", now);
            update.Parameters.AddWithValue("day", day);
            await update.ExecuteNonQueryAsync(cancellationToken);
        }
        var changes = rebases.SelectMany(r => r.Changes.Select(c => (r.UserId, Change: c))).ToArray();
        await using var insert = new NpgsqlCommand(InsertRebaseChangesSql, connection, transaction);
        insert.Parameters.AddWithValue("user_ids", changes.Select(c => c.UserId).ToArray());
        insert.Parameters.AddWithValue("kinds", changes.Select(c => c.Change.Kind.ToString()).ToArray());
        insert.Parameters.AddWithValue("befores", changes.Select(c => c.Change.Before).ToArray());
        insert.Parameters.AddWithValue("afters", changes.Select(c => c.Change.After).ToArray());
        insert.Parameters.AddWithValue("reasons", changes.Select(c => c.Change.Reason).ToArray());
        insert.Parameters.AddWithValue("snapshot_ids", changes.Select(c => c.Change.SnapshotId).ToArray());
        insert.Parameters.AddWithValue("snapshot_days", changes.Select(c => c.Change.SnapshotDay).ToArray());
        insert.Parameters.AddWithValue("now", now);
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await dataSource.OpenConnectionAsync(cancellationToken);

    protected override async Task<DbTransaction?> BeginPageReadAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await PlanForKeyedStatementsAsync((NpgsqlConnection)connection, (NpgsqlTransaction)transaction, cancellationToken);
        return transaction;
    }

    // Every statement of the refresh is keyed (a page of ids, a chunk's ids) and runs in milliseconds, so neither of
    // PostgreSQL's aids for long queries pays: parallel workers cost more to start than they save (on a deep history the
    // planner sent the page read to two of them, 68 ms a page where it needs a few), and JIT compiles for longer than the
    // statement runs. The planner costs a probe of the pointer's snapshot as one index scan in every month partition,
    // though all but one are pruned at run time, so at 25 months a page read (383,000) and a chunk's bases (182,000)
    // cross jit_above_cost (100,000): their compilation took 390 ms and 170 ms a statement where they run in 15-25 ms,
    // most of what the job lost at depth (bench/RESULTS.md, 2026-12-08). SET LOCAL keeps both choices to this transaction.
    internal static async Task PlanForKeyedStatementsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var settings = new NpgsqlCommand("SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off", connection, transaction);
        await settings.ExecuteNonQueryAsync(cancellationToken);
    }

    // Moving a pointer makes PostgreSQL check its key, (current_snapshot_id, current_snapshot_day), against the history with
    // a statement it keeps per session and plans at each use by plan_cache_mode. Against many month partitions it judges
    // the plan for any day (a probe in every partition, all but one pruned at run time) dearer than planning again for the
    // pointer's own day, so it planned again for every moved pointer: 70 us each at 25 months, 13 s of backend time a day at
    // 200,000 users, where on a fresh history it keeps the one plan (bench/RESULTS.md, 2026-12-08). Only around the write
    // that moves them: the chunk's other statements take a day, and a plan for any day is planned over, and locks, every
    // month partition at each use; this write's own statements prune nothing (its insert routes each row, its update and
    // delete touch no history). The setting goes back to the session's for the rest of the transaction; if the write
    // fails, the transaction is lost and its SET LOCAL with it.
    internal static async Task<T> WithOnePlanForThePointersKeyAsync<T>(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Func<Task<T>> write, CancellationToken cancellationToken)
    {
        await using (var generic = new NpgsqlCommand("SET LOCAL plan_cache_mode = force_generic_plan", connection, transaction))
            await generic.ExecuteNonQueryAsync(cancellationToken);
        var result = await write();
        await using (var asBefore = new NpgsqlCommand("SET LOCAL plan_cache_mode = DEFAULT", connection, transaction))
            await asBefore.ExecuteNonQueryAsync(cancellationToken);
        return result;
    }
}
