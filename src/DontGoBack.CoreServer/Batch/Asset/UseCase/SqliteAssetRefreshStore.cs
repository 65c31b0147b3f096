using System.Data.Common;
using System.Globalization;
using System.Text;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
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
            // A late day's move is recorded by its rebase row instead of a market row.
            var applied = inserted.Where(i => rebases.ContainsKey(i.Move.UserId)).Select(i => rebases[i.Move.UserId]).ToList();
            var inOrder = inserted.Where(i => !rebases.ContainsKey(i.Move.UserId)).ToList();
            if (inOrder.Count > 0)
            {
                await InsertMarketChangesAsync(connection, day, inOrder, changedAt, cancellationToken);
                await MovePointersAsync(connection, inOrder.Select(i => i.Move.UserId), cancellationToken);
            }
            if (applied.Count > 0)
                await ApplyRebasesAsync(connection, applied, changedAt, cancellationToken);
            (rebasedUsers, rebasedDays) = (applied.Count, applied.Sum(r => r.Snapshots.Count));
            if (moves.Count > 0)
            {
                await ExecuteAsync(connection,
                    $"DELETE FROM asset_refresh_failures WHERE snapshot_day = @day AND user_id IN ({IdList(moves.Select(m => m.UserId))})",
                    day, cancellationToken);
            }
        }
        if (allFailures.Count > 0)
            await RecordFailuresAsync(connection, day, allFailures, changedAt, tries.EarlierMayHaveCommitted, cancellationToken);

        var insertedUsers = inserted.Select(i => i.Move.UserId).ToList();
        tries.Committing(insertedUsers);
        await transaction.CommitAsync(cancellationToken);
        return tries.Result(insertedUsers, moveCount, allFailures.Count, rebasedUsers, rebasedDays);
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await database.OpenAsync(cancellationToken);

    /// <returns>Each user's base before the day, and the users that already have a later day.</returns>
    private static async Task<(Dictionary<long, long> Bases, List<long> WithLaterDays)> BasesAsync(
        SqliteConnection connection, DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT u.id,
                   (SELECT s.closing_amount FROM daily_asset_snapshots s
                     WHERE s.user_id = u.id AND s.snapshot_day < @day
                     ORDER BY s.snapshot_day DESC LIMIT 1),
                   (SELECT l.snapshot_day FROM daily_asset_snapshots l
                     WHERE l.user_id = u.id AND l.snapshot_day > @day
                     ORDER BY l.snapshot_day LIMIT 1) IS NOT NULL
              FROM users u WHERE u.id IN ({IdList(refreshed.Select(r => r.UserId))})
            """;
        command.Parameters.AddWithValue("@day", day);
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
             WHERE user_id IN ({IdList(userIds)}) AND snapshot_day > @day
             ORDER BY user_id, snapshot_day
            """;
        command.Parameters.AddWithValue("@day", day);
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
        var sql = new StringBuilder("""
            INSERT INTO daily_asset_snapshots
                   (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
            VALUES
            """);
        for (var i = 0; i < moves.Count; i++)
        {
            var move = moves[i];
            sql.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture,
                $"({move.UserId}, @day, {move.Opening}, {move.Closing}, @m{i}, {move.Closing - move.Opening}, 0, @now)");
            command.Parameters.AddWithValue($"@m{i}", move.Multiplier);
        }
        sql.Append(" ON CONFLICT (user_id, snapshot_day) DO NOTHING RETURNING id, user_id");
        command.CommandText = sql.ToString();
        command.Parameters.AddWithValue("@day", day);
        command.Parameters.AddWithValue("@now", changedAt);

        var byUser = moves.ToDictionary(m => m.UserId);
        var inserted = new List<(long, MarketMove)>(moves.Count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            inserted.Add((reader.GetInt64(0), byUser[reader.GetInt64(1)]));
        return inserted;
    }

    private static async Task InsertMarketChangesAsync(
        SqliteConnection connection, DateOnly day, List<(long SnapshotId, MarketMove Move)> inserted,
        DateTimeOffset changedAt, CancellationToken cancellationToken)
    {
        var sql = new StringBuilder("""
            INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, snapshot_id, snapshot_day, changed_at)
            VALUES
            """);
        for (var i = 0; i < inserted.Count; i++)
        {
            var (snapshotId, move) = inserted[i];
            sql.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture,
                $"({move.UserId}, 'Market', {move.Opening}, {move.Closing}, {move.Closing - move.Opening}, {snapshotId}, @day, @now)");
        }
        await using var command = connection.CreateCommand();
        command.CommandText = sql.ToString();
        command.Parameters.AddWithValue("@day", day);
        command.Parameters.AddWithValue("@now", changedAt);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task MovePointersAsync(SqliteConnection connection, IEnumerable<long> userIds, CancellationToken cancellationToken)
    {
        // The pointer is the snapshot with the greatest day, so a back-fill never moves it back.
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            UPDATE users SET current_snapshot_id =
                   (SELECT s.id FROM daily_asset_snapshots s WHERE s.user_id = users.id ORDER BY s.snapshot_day DESC LIMIT 1)
             WHERE id IN ({IdList(userIds)})
            """;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task RecordFailuresAsync(
        SqliteConnection connection, DateOnly day, IReadOnlyList<RefreshFailure> failures,
        DateTimeOffset failedAt, bool retry, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder(
            "INSERT INTO asset_refresh_failures (snapshot_day, user_id, failure_class, reason, attempts, failed_at) VALUES ");
        for (var i = 0; i < failures.Count; i++)
        {
            sql.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture, $"(@day, {failures[i].UserId}, @c{i}, @r{i}, 1, @failed_at)");
            command.Parameters.AddWithValue($"@c{i}", failures[i].Class.ToString());
            command.Parameters.AddWithValue($"@r{i}", failures[i].Reason);
        }
        sql.Append("""
             ON CONFLICT (snapshot_day, user_id) DO UPDATE
                SET failure_class = excluded.failure_class, reason = excluded.reason,
                    attempts = asset_refresh_failures.attempts
                               + CASE WHEN @retry AND asset_refresh_failures.failed_at = excluded.failed_at THEN 0 ELSE 1 END,
                    failed_at = excluded.failed_at
            """);
        command.CommandText = sql.ToString();
        command.Parameters.AddWithValue("@day", day);
        command.Parameters.AddWithValue("@failed_at", failedAt);
        command.Parameters.AddWithValue("@retry", retry);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, DateOnly day, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("@day", day);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // Ids and amounts are our own 64-bit integers, so inlining them cannot inject anything and
    // keeps a chunk under SQLite's cap on bound parameters.
    private static string IdList(IEnumerable<long> ids) =>
        string.Join(',', ids.Select(id => id.ToString(CultureInfo.InvariantCulture)));
}
