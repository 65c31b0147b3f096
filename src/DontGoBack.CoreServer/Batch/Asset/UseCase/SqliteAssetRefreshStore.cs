using System.Data.Common;
using System.Globalization;
using System.Text;
using DontGoBack.CoreServer.Persistence;
using Microsoft.Data.Sqlite;

namespace DontGoBack.CoreServer.Batch.Asset.UseCase;

public sealed class SqliteAssetRefreshStore(SqliteDatabase database) : AssetRefreshStore
{
    public override async Task<ChunkWriteResult> WriteChunkAsync(
        DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyList<RefreshFailure> failures,
        DateTimeOffset changedAt, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);

        var inserted = refreshed.Count > 0
            ? await InsertSnapshotsAsync(connection, day, refreshed, changedAt, cancellationToken)
            : [];
        if (inserted.Count > 0)
            await MovePointersAsync(connection, inserted, cancellationToken);
        if (refreshed.Count > 0)
            await ClearFailuresAsync(connection, day, refreshed, cancellationToken);
        if (failures.Count > 0)
            await RecordFailuresAsync(connection, day, failures, changedAt, cancellationToken);

        await transaction.CommitAsync(cancellationToken);
        return new ChunkWriteResult(inserted.Count, refreshed.Count - inserted.Count);
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await database.OpenAsync(cancellationToken);

    private static async Task<List<long>> InsertSnapshotsAsync(
        SqliteConnection connection, DateOnly day, IReadOnlyList<RefreshedAsset> refreshed,
        DateTimeOffset changedAt, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder(
            "INSERT INTO asset_history (user_id, amount, multiplier, snapshot_day, changed_at) VALUES ");
        for (var i = 0; i < refreshed.Count; i++)
        {
            sql.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture, $"(@u{i}, @a{i}, @m{i}, @day, @changed_at)");
            command.Parameters.AddWithValue($"@u{i}", refreshed[i].UserId);
            command.Parameters.AddWithValue($"@a{i}", refreshed[i].Amount);
            command.Parameters.AddWithValue($"@m{i}", refreshed[i].Multiplier);
        }
        sql.Append(" ON CONFLICT (user_id, snapshot_day) DO NOTHING RETURNING user_id");
        command.CommandText = sql.ToString();
        command.Parameters.AddWithValue("@day", day);
        command.Parameters.AddWithValue("@changed_at", changedAt);

        var inserted = new List<long>(refreshed.Count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            inserted.Add(reader.GetInt64(0));
        return inserted;
    }

    private static async Task MovePointersAsync(
        SqliteConnection connection, List<long> userIds, CancellationToken cancellationToken)
    {
        // The pointer is the snapshot with the greatest day, so a back-fill never moves it back.
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            UPDATE users SET current_asset_history_id =
                   (SELECT h.id FROM asset_history h WHERE h.user_id = users.id ORDER BY h.snapshot_day DESC LIMIT 1)
             WHERE id IN ({IdList(userIds)})
            """;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task ClearFailuresAsync(
        SqliteConnection connection, DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText =
            $"DELETE FROM asset_refresh_failures WHERE snapshot_day = @day AND user_id IN ({IdList(refreshed.Select(r => r.UserId))})";
        command.Parameters.AddWithValue("@day", day);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task RecordFailuresAsync(
        SqliteConnection connection, DateOnly day, IReadOnlyList<RefreshFailure> failures,
        DateTimeOffset failedAt, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder(
            "INSERT INTO asset_refresh_failures (snapshot_day, user_id, failure_class, reason, attempts, failed_at) VALUES ");
        for (var i = 0; i < failures.Count; i++)
        {
            sql.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture, $"(@day, @u{i}, @c{i}, @r{i}, 1, @failed_at)");
            command.Parameters.AddWithValue($"@u{i}", failures[i].UserId);
            command.Parameters.AddWithValue($"@c{i}", failures[i].Class.ToString());
            command.Parameters.AddWithValue($"@r{i}", failures[i].Reason);
        }
        sql.Append("""
             ON CONFLICT (snapshot_day, user_id) DO UPDATE
                SET failure_class = excluded.failure_class, reason = excluded.reason,
                    attempts = asset_refresh_failures.attempts + 1, failed_at = excluded.failed_at
            """);
        command.CommandText = sql.ToString();
        command.Parameters.AddWithValue("@day", day);
        command.Parameters.AddWithValue("@failed_at", failedAt);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // Ids are our own 64-bit integers, so inlining them cannot inject anything and avoids
    // SQLite's cap on bound parameters.
    private static string IdList(IEnumerable<long> ids) =>
        string.Join(',', ids.Select(id => id.ToString(CultureInfo.InvariantCulture)));
}
