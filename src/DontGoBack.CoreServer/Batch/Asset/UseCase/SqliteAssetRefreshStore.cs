using System.Data.Common;
using System.Globalization;
using System.Text;
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
        if (refreshed.Count > 0)
        {
            moves = ApplyMarketMoves(refreshed, await BasesAsync(connection, day, refreshed, cancellationToken), allFailures);
            moveCount = moves.Count;
            if (moves.Count > 0)
                inserted = await InsertSnapshotsAsync(connection, day, moves, changedAt, cancellationToken);
            if (inserted.Count > 0)
            {
                await InsertMarketChangesAsync(connection, day, inserted, changedAt, cancellationToken);
                await MovePointersAsync(connection, inserted.Select(i => i.Move.UserId), cancellationToken);
            }
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
        return tries.Result(insertedUsers, moveCount, allFailures.Count);
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await database.OpenAsync(cancellationToken);

    private static async Task<Dictionary<long, long>> BasesAsync(
        SqliteConnection connection, DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT u.id,
                   (SELECT s.closing_amount FROM daily_asset_snapshots s
                     WHERE s.user_id = u.id AND s.snapshot_day < @day
                     ORDER BY s.snapshot_day DESC LIMIT 1)
              FROM users u WHERE u.id IN ({IdList(refreshed.Select(r => r.UserId))})
            """;
        command.Parameters.AddWithValue("@day", day);
        var bases = new Dictionary<long, long>(refreshed.Count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (!reader.IsDBNull(1))
                bases[reader.GetInt64(0)] = reader.GetInt64(1);
        }
        return bases;
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
