using System.Data.Common;
using System.Buffers;
using System.Text;
using System.Text.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;
using Microsoft.Data.Sqlite;

namespace DontGoBack.CoreServer.Batch.Asset.UseCase;

/// <remarks>
/// SQLite has one writer at a time and its transactions here begin IMMEDIATE, so the bases read
/// inside the transaction cannot change before it commits: no row locks are needed. Not sealed:
/// a test stands in a commit whose answer is lost on the way back.
/// </remarks>
public class SqliteAssetRefreshStore(SqliteDatabase database, DatabaseRetry retry) : AssetRefreshStore(retry)
{
    protected override async Task<ChunkWriteResult> WriteChunkOnceAsync(
        DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyList<RefreshFailure> failures,
        DateTimeOffset changedAt, ChunkTries tries, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        var allFailures = failures.ToList();

        var inserted = new List<(long SnapshotId, MarketMove Move)>();
        List<MarketMove> moves = [];
        var moveCount = 0;
        var (rebasedUsers, rebasedDays) = (0, 0);
        if (refreshed.Count > 0)
        {
            var (bases, withLaterDays) = await BasesAsync(connection, day, refreshed, cancellationToken);
            moves = ApplyMarketMoves(refreshed, bases, allFailures);
            var rebases = PlanRebases(day, moves, await LaterSnapshotsAsync(connection, day, withLaterDays, cancellationToken), allFailures);
            moveCount = moves.Count;
            if (moves.Count > 0)
                inserted = await InsertSnapshotsAsync(connection, day, moves, changedAt, cancellationToken);
            // The market move lives in the snapshot alone; a late day's move is recorded by its rebase row.
            var applied = inserted.Where(i => rebases.ContainsKey(i.Move.UserId)).Select(i => rebases[i.Move.UserId]).ToList();
            var inOrder = inserted.Where(i => !rebases.ContainsKey(i.Move.UserId)).ToList();
            if (inOrder.Count > 0)
                await MovePointersAsync(connection, inOrder.Select(i => i.Move.UserId), cancellationToken);
            if (applied.Count > 0)
                await ApplyRebasesAsync(connection, applied, changedAt, cancellationToken);
            (rebasedUsers, rebasedDays) = (applied.Count, applied.Sum(r => r.Snapshots.Count));
            // After the writes: a late day in a month already rolled up keeps the month's roll-ups current.
            await AssetMonthRollups.RollUpAgainAsync(connection, transaction, inserted.Select(i => i.Move.UserId).ToList(), day, cancellationToken);
            if (moves.Count > 0)
            {
                await using var clear = connection.CreateCommand();
                clear.CommandText = "DELETE FROM asset_refresh_failures WHERE snapshot_day = @day AND user_id IN (SELECT value FROM json_each(@user_ids))";
                clear.Parameters.AddWithValue("@day", day);
                clear.Parameters.AddWithValue("@user_ids", JsonIds(moves.Select(m => m.UserId)));
                await clear.ExecuteNonQueryAsync(cancellationToken);
            }
        }
        if (allFailures.Count > 0)
            await RecordFailuresAsync(connection, day, allFailures, changedAt, tries.EarlierMayHaveCommitted, cancellationToken);

        var insertedUsers = inserted.Select(i => i.Move.UserId).ToList();
        tries.Committing(insertedUsers);
        await transaction.CommitAsync(cancellationToken);
        return tries.Result(insertedUsers, moveCount, allFailures.Count, rebasedUsers, rebasedDays);
    }

    /// <summary>SQLite writes one transaction at a time: a second writer would only wait for the lock.</summary>
    public override bool TakesConcurrentWrites => false;

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await database.OpenAsync(cancellationToken);

    /// <returns>Each user's base before the day, and the users that already have a later day.</returns>
    private static async Task<(Dictionary<long, long> Bases, List<long> WithLaterDays)> BasesAsync(
        SqliteConnection connection, DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT u.id,
                   (SELECT s.closing_amount FROM daily_asset_snapshots s
                     WHERE s.user_id = u.id AND s.snapshot_day < @day
                     ORDER BY s.snapshot_day DESC LIMIT 1),
                   (SELECT l.snapshot_day FROM daily_asset_snapshots l
                     WHERE l.user_id = u.id AND l.snapshot_day > @day
                     ORDER BY l.snapshot_day LIMIT 1) IS NOT NULL
              FROM users u WHERE u.id IN (SELECT value FROM json_each(@user_ids))
            """;
        command.Parameters.AddWithValue("@day", day);
        command.Parameters.AddWithValue("@user_ids", JsonIds(refreshed.Select(r => r.UserId)));
        var bases = new Dictionary<long, long>(refreshed.Count);
        var withLaterDays = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (!reader.IsDBNull(1))
                bases[reader.GetInt64(0)] = reader.GetInt64(1);
            if (reader.GetBoolean(2))
                withLaterDays.Add(reader.GetInt64(0));
        }
        return (bases, withLaterDays);
    }

    private static async Task<List<(long UserId, StoredSnapshot Snapshot)>> LaterSnapshotsAsync(
        SqliteConnection connection, DateOnly day, List<long> userIds, CancellationToken cancellationToken)
    {
        var later = new List<(long, StoredSnapshot)>();
        if (userIds.Count == 0)
            return later;
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {StoredSnapshotColumns} FROM daily_asset_snapshots
             WHERE user_id IN (SELECT value FROM json_each(@user_ids)) AND snapshot_day > @day
             ORDER BY user_id, snapshot_day
            """;
        command.Parameters.AddWithValue("@day", day);
        command.Parameters.AddWithValue("@user_ids", JsonIds(userIds));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            later.Add((reader.GetInt64(1), ReadStoredSnapshot(reader)));
        return later;
    }

    /// <summary>Late writes are rare, so one prepared statement per row is cheap enough here.</summary>
    private static async Task ApplyRebasesAsync(
        SqliteConnection connection, List<UserRebase> rebases, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var update = connection.CreateCommand();
        update.CommandText = """
            UPDATE daily_asset_snapshots
               SET opening_amount = @opening, market_delta = @market_delta, net_flow = @net_flow, closing_amount = @closing, updated_at = @now
             WHERE id = @id
            """;
        var (id, opening, marketDelta, netFlow, closing) = (update.Parameters.Add("@id", SqliteType.Integer),
            update.Parameters.Add("@opening", SqliteType.Integer), update.Parameters.Add("@market_delta", SqliteType.Integer),
            update.Parameters.Add("@net_flow", SqliteType.Integer), update.Parameters.Add("@closing", SqliteType.Integer));
        update.Parameters.AddWithValue("@now", now);
        foreach (var snapshot in rebases.SelectMany(r => r.Snapshots))
        {
            (id.Value, opening.Value, marketDelta.Value, netFlow.Value, closing.Value) =
                (snapshot.Id, snapshot.Opening, snapshot.MarketDelta, snapshot.NetFlow, snapshot.Closing);
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var insert = connection.CreateCommand();
        insert.CommandText = """
            INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, reason, snapshot_id, snapshot_day, changed_at)
            VALUES (@user_id, @kind, @before, @after, @after - @before, @reason, @snapshot_id, @snapshot_day, @now)
            """;
        var (userId, kind, before, after, reason, snapshotId, snapshotDay) = (insert.Parameters.Add("@user_id", SqliteType.Integer),
            insert.Parameters.Add("@kind", SqliteType.Text), insert.Parameters.Add("@before", SqliteType.Integer),
            insert.Parameters.Add("@after", SqliteType.Integer), insert.Parameters.Add("@reason", SqliteType.Text),
            insert.Parameters.Add("@snapshot_id", SqliteType.Integer), insert.Parameters.Add("@snapshot_day", SqliteType.Text));
        insert.Parameters.AddWithValue("@now", now);
        foreach (var rebase in rebases)
        {
            foreach (var change in rebase.Changes)
            {
                (userId.Value, kind.Value, before.Value, after.Value, reason.Value, snapshotId.Value) =
                    (rebase.UserId, change.Kind.ToString(), change.Before, change.After, change.Reason, change.SnapshotId);
                snapshotDay.Value = change.SnapshotDay;
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }
        }
    }

    private static async Task<List<(long SnapshotId, MarketMove Move)>> InsertSnapshotsAsync(
        SqliteConnection connection, DateOnly day, List<MarketMove> moves, DateTimeOffset changedAt, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        // "WHERE true" tells SQLite's parser that ON CONFLICT belongs to the INSERT, not to a join.
        command.CommandText = """
            INSERT INTO daily_asset_snapshots
                   (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
            SELECT value ->> 0, @day, value ->> 1, value ->> 2, value ->> 3, (value ->> 2) - (value ->> 1), 0, @now
              FROM json_each(@moves) WHERE true
            ON CONFLICT (user_id, snapshot_day) DO NOTHING
            RETURNING id, user_id
            """;
        command.Parameters.AddWithValue("@moves", JsonRows(moves, (json, move) =>
        {
            json.WriteNumberValue(move.UserId);
            json.WriteNumberValue(move.Opening);
            json.WriteNumberValue(move.Closing);
            json.WriteNumberValue(move.Multiplier);
        }));
        command.Parameters.AddWithValue("@day", day);
        command.Parameters.AddWithValue("@now", changedAt);

        var byUser = moves.ToDictionary(m => m.UserId);
        var inserted = new List<(long, MarketMove)>(moves.Count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            inserted.Add((reader.GetInt64(0), byUser[reader.GetInt64(1)]));
        return inserted;
    }

    private static async Task MovePointersAsync(SqliteConnection connection, IEnumerable<long> userIds, CancellationToken cancellationToken)
    {
        // The pointer is the snapshot with the greatest day, so a back-fill never moves it back.
        await using var command = connection.CreateCommand();
        command.CommandText = """
            UPDATE users SET (current_snapshot_id, current_snapshot_day) =
                   (SELECT s.id, s.snapshot_day FROM daily_asset_snapshots s WHERE s.user_id = users.id ORDER BY s.snapshot_day DESC LIMIT 1)
             WHERE id IN (SELECT value FROM json_each(@user_ids))
            """;
        command.Parameters.AddWithValue("@user_ids", JsonIds(userIds));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task RecordFailuresAsync(
        SqliteConnection connection, DateOnly day, IReadOnlyList<RefreshFailure> failures,
        DateTimeOffset failedAt, bool retry, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO asset_refresh_failures (snapshot_day, user_id, failure_class, reason, attempts, failed_at)
            SELECT @day, value ->> 0, value ->> 1, value ->> 2, 1, @failed_at FROM json_each(@failures) WHERE true
            ON CONFLICT (snapshot_day, user_id) DO UPDATE
               SET failure_class = excluded.failure_class, reason = excluded.reason,
                   attempts = asset_refresh_failures.attempts
                              + CASE WHEN @retry AND asset_refresh_failures.failed_at = excluded.failed_at THEN 0 ELSE 1 END,
                   failed_at = excluded.failed_at
            """;
        command.Parameters.AddWithValue("@failures", JsonRows(failures, (json, failure) =>
        {
            json.WriteNumberValue(failure.UserId);
            json.WriteStringValue(failure.Class.ToString());
            json.WriteStringValue(failure.Reason);
        }));
        command.Parameters.AddWithValue("@day", day);
        command.Parameters.AddWithValue("@failed_at", failedAt);
        command.Parameters.AddWithValue("@retry", retry);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // A chunk's rows travel as one JSON parameter that json_each unpacks, as unnest does on
    // PostgreSQL: no SQL text is built from values, and a chunk never meets SQLite's cap on bound parameters.
    private static string JsonIds(IEnumerable<long> ids) => JsonRows(ids, (json, id) => json.WriteNumberValue(id), asArrays: false);

    /// <param name="asArrays">Each item is an array of the values <paramref name="write"/> writes; otherwise the one value itself.</param>
    private static string JsonRows<T>(IEnumerable<T> items, Action<Utf8JsonWriter, T> write, bool asArrays = true)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var item in items)
            {
                if (asArrays)
                    json.WriteStartArray();
                write(json, item);
                if (asArrays)
                    json.WriteEndArray();
            }
            json.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
