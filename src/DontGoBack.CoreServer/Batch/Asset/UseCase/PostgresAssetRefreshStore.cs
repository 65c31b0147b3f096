using System.Data.Common;
using Npgsql;

namespace DontGoBack.CoreServer.Batch.Asset.UseCase;

public sealed class PostgresAssetRefreshStore(NpgsqlDataSource dataSource) : AssetRefreshStore
{
    // One round trip per chunk: arrays in, snapshots inserted, pointers moved only forward
    // (data-modifying CTEs run even when nothing reads them).
    private const string InsertSnapshotsSql = """
        WITH input AS (
            SELECT * FROM unnest(@user_ids, @amounts, @multipliers) AS t(user_id, amount, multiplier)
        ), inserted AS (
            INSERT INTO asset_history (user_id, amount, multiplier, snapshot_day, changed_at)
            SELECT user_id, amount, multiplier, @day, @changed_at FROM input
            ON CONFLICT (user_id, snapshot_day) DO NOTHING
            RETURNING id, user_id
        ), moved AS (
            UPDATE users u SET current_asset_history_id = i.id
              FROM inserted i
             WHERE u.id = i.user_id
               AND (u.current_asset_history_id IS NULL
                    OR (SELECT c.snapshot_day FROM asset_history c WHERE c.id = u.current_asset_history_id) < @day)
        ), cleared AS (
            DELETE FROM asset_refresh_failures f
             USING input
             WHERE f.snapshot_day = @day AND f.user_id = input.user_id
        )
        SELECT count(*)::int FROM inserted
        """;

    private const string RecordFailuresSql = """
        INSERT INTO asset_refresh_failures (snapshot_day, user_id, failure_class, reason, attempts, failed_at)
        SELECT @day, t.user_id, t.failure_class, t.reason, 1, @failed_at
          FROM unnest(@user_ids, @classes, @reasons) AS t(user_id, failure_class, reason)
        ON CONFLICT (snapshot_day, user_id) DO UPDATE
           SET failure_class = excluded.failure_class,
               reason = excluded.reason,
               attempts = asset_refresh_failures.attempts + 1,
               failed_at = excluded.failed_at
        """;

    public override async Task<ChunkWriteResult> WriteChunkAsync(
        DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyList<RefreshFailure> failures,
        DateTimeOffset changedAt, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        var written = 0;
        if (refreshed.Count > 0)
        {
            await using var insert = new NpgsqlCommand(InsertSnapshotsSql, connection, transaction);
            insert.Parameters.AddWithValue("user_ids", refreshed.Select(r => r.UserId).ToArray());
            insert.Parameters.AddWithValue("amounts", refreshed.Select(r => r.Amount).ToArray());
            insert.Parameters.AddWithValue("multipliers", refreshed.Select(r => r.Multiplier).ToArray());
            insert.Parameters.AddWithValue("day", day);
            insert.Parameters.AddWithValue("changed_at", changedAt);
            written = (int)(await insert.ExecuteScalarAsync(cancellationToken))!;
        }

        if (failures.Count > 0)
        {
            await using var record = new NpgsqlCommand(RecordFailuresSql, connection, transaction);
            record.Parameters.AddWithValue("user_ids", failures.Select(f => f.UserId).ToArray());
            record.Parameters.AddWithValue("classes", failures.Select(f => f.Class.ToString()).ToArray());
            record.Parameters.AddWithValue("reasons", failures.Select(f => f.Reason).ToArray());
            record.Parameters.AddWithValue("day", day);
            record.Parameters.AddWithValue("failed_at", changedAt);
            await record.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return new ChunkWriteResult(written, refreshed.Count - written);
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await dataSource.OpenConnectionAsync(cancellationToken);
}
