using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;

namespace DontGoBack.Bench;

/// <summary>The bench's own database on the throwaway server, recreated by every run.</summary>
internal sealed class BenchDatabase(NpgsqlDataSource dataSource, string connectionString) : IAsyncDisposable
{
    public const string Name = "dontgoback_bench";

    /// <summary>A day no run uses, so the floor's rows never meet the seed's or the job's.</summary>
    private static readonly DateOnly FloorDay = new(2000, 1, 1);

    private const string FloorSnapshotsCopySql = """
        COPY daily_asset_snapshots
             (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
        FROM STDIN (FORMAT BINARY)
        """;

    private const string FloorMovePointersSql = """
        UPDATE users SET current_snapshot_id = s.id
          FROM daily_asset_snapshots s
         WHERE s.user_id = users.id AND s.snapshot_day = @floor_day
        """;

    /// <summary>For the core server, exactly as given: the job is measured on its own connection settings.</summary>
    public string ConnectionString => connectionString;

    public static async Task<BenchDatabase> RecreateAsync(string adminConnectionString, CancellationToken cancellationToken)
    {
        // Unpooled: a pooled idle connection to the admin database would outlive the run for nothing.
        var admin = new NpgsqlConnectionStringBuilder(adminConnectionString) { Pooling = false };
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync(cancellationToken);
            await ExecuteAsync(connection, $"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", cancellationToken);
            await ExecuteAsync(connection, $"CREATE DATABASE {Name}", cancellationToken);
        }

        var bench = new NpgsqlConnectionStringBuilder(adminConnectionString) { Database = Name };
        // No command timeout for the bench's own statements: VACUUM and the floor grow with the user count.
        var own = new NpgsqlConnectionStringBuilder(bench.ConnectionString) { CommandTimeout = 0 };
        return new BenchDatabase(NpgsqlDataSource.Create(own.ConnectionString), bench.ConnectionString);
    }

    public async Task VacuumAnalyzeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, "VACUUM ANALYZE", cancellationToken);
    }

    public async Task<int> CountActiveUsersAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT count(*) FROM users WHERE status = 'ACTIVE'");
        return checked((int)(long)(await command.ExecuteScalarAsync(cancellationToken))!);
    }

    public async Task<string> ServerVersionAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SHOW server_version");
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// The least the database must do to store one day for every active user, as the design asks
    /// for it: one snapshot per user (a binary COPY) and the pointer moved to it (one set-based
    /// UPDATE), in one transaction rolled back so the data the job meets is unchanged. Reading the
    /// ids beforehand is not timed.
    /// </summary>
    public async Task<TimeSpan> MeasureFloorAsync(CancellationToken cancellationToken)
    {
        const long flatAmount = 10_000_000;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var activeUserIds = await ReadActiveUserIdsAsync(connection, cancellationToken);
        var now = DateTime.UtcNow;

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Snapshot ids chosen here rather than by the identity: the rollback leaves the identity sequence untouched.
        long firstSnapshotId;
        await using (var maxId = new NpgsqlCommand("SELECT COALESCE(max(id), 0) + 1 FROM daily_asset_snapshots", connection, transaction))
            firstSnapshotId = (long)(await maxId.ExecuteScalarAsync(cancellationToken))!;

        var clock = Stopwatch.StartNew();
        // Synchronous writes only block when the buffer goes out; an await per value would be
        // client overhead inside the very time we call the floor.
        await using (var snapshots = await connection.BeginBinaryImportAsync(FloorSnapshotsCopySql, cancellationToken))
        {
            for (var i = 0; i < activeUserIds.Count; i++)
            {
                snapshots.StartRow();
                snapshots.Write(firstSnapshotId + i, NpgsqlDbType.Bigint);
                snapshots.Write(activeUserIds[i], NpgsqlDbType.Bigint);
                snapshots.Write(FloorDay, NpgsqlDbType.Date);
                snapshots.Write(flatAmount, NpgsqlDbType.Bigint);
                snapshots.Write(flatAmount, NpgsqlDbType.Bigint);
                snapshots.Write(1.0, NpgsqlDbType.Double);
                snapshots.Write(0L, NpgsqlDbType.Bigint);
                snapshots.Write(0L, NpgsqlDbType.Bigint);
                snapshots.Write(now, NpgsqlDbType.TimestampTz);
            }
            await snapshots.CompleteAsync(cancellationToken);
        }
        int moved;
        await using (var movePointers = new NpgsqlCommand(FloorMovePointersSql, connection, transaction))
        {
            movePointers.Parameters.AddWithValue("floor_day", FloorDay);
            moved = await movePointers.ExecuteNonQueryAsync(cancellationToken);
        }
        clock.Stop();
        await transaction.RollbackAsync(cancellationToken);

        if (moved != activeUserIds.Count)
            throw new BenchFailedException($"the floor's UPDATE moved {moved} pointers for {activeUserIds.Count} copied snapshots");
        return clock.Elapsed;
    }

    /// <summary>Every table the refresh writes: their heap, indexes and TOAST are what a day costs.</summary>
    public static readonly string[] WrittenTables = ["users", "daily_asset_snapshots", "asset_changes", "asset_refresh_failures"];

    /// <summary>
    /// Seeds users the way the core server's <c>seed</c> does (the same status rule by id, an opening
    /// snapshot and its opening change on <paramref name="openingDay"/>, the pointer on it), in
    /// server-side set-based SQL: at ten million users the seed is setup, not the measurement, and
    /// must take minutes, not hours. Snapshot ids equal user ids, so each user row is written once,
    /// already pointing at its snapshot; the foreign-key triggers are off for that one transaction
    /// (the circle users → snapshots → users cannot otherwise be written in one pass). The schema
    /// must exist (the core server migrates it).
    /// </summary>
    public async Task SeedAsync(int users, int activePercent, DateOnly openingDay, CancellationToken cancellationToken)
    {
        const long startAmount = 10_000_000;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var seed = new NpgsqlCommand("""
            SET LOCAL session_replication_role = replica;
            INSERT INTO users (id, status, created_at, opening_day, current_snapshot_id)
            SELECT g, CASE WHEN g % 100 < @active_percent THEN 'ACTIVE'
                           WHEN g % 3 = 0 THEN 'INACTIVE'
                           WHEN g % 3 = 1 THEN 'SUSPENDED'
                           ELSE 'CLOSE_REQUESTED' END,
                   now(), @day, g
              FROM generate_series(1, @users) AS g;
            INSERT INTO daily_asset_snapshots
                   (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
            SELECT g, g, @day, @amount, @amount, NULL, 0, 0, now() FROM generate_series(1, @users) AS g;
            INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, reason, snapshot_id, snapshot_day, changed_at)
            SELECT g, 'Opening', 0, @amount, @amount, 'demo opening', g, @day, now() FROM generate_series(1, @users) AS g;
            SELECT setval(pg_get_serial_sequence('users', 'id'), @users);
            SELECT setval(pg_get_serial_sequence('daily_asset_snapshots', 'id'), @users);
            """, connection, transaction);
        seed.Parameters.AddWithValue("users", (long)users);
        seed.Parameters.AddWithValue("active_percent", activePercent);
        seed.Parameters.AddWithValue("day", openingDay);
        seed.Parameters.AddWithValue("amount", startAmount);
        await seed.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Gives every active user <paramref name="days"/> more days of history from
    /// <paramref name="firstDay"/> on, set-based (one INSERT from generate_series, one pointer
    /// UPDATE), as the refresh would have written them: a snapshot per day (flat amounts, multiplier
    /// 1, so the chain holds), and — only when <paramref name="withMarketChanges"/>, the history
    /// as the refresh wrote it before market moves lived in the snapshots alone — a market change per day.
    /// </summary>
    public async Task AddHistoryAsync(DateOnly firstDay, int days, bool withMarketChanges, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var sql = """
            INSERT INTO daily_asset_snapshots
                   (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
            SELECT u.id, @first_day + d, s.closing_amount, s.closing_amount, 1.0, 0, 0, now()
              FROM users u JOIN daily_asset_snapshots s ON s.id = u.current_snapshot_id
             CROSS JOIN generate_series(0, @days - 1) AS d
             WHERE u.status = 'ACTIVE'
             ORDER BY d, u.id;
            """;
        if (withMarketChanges)
        {
            sql += """
                INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, snapshot_id, snapshot_day, changed_at)
                SELECT user_id, 'Market', opening_amount, closing_amount, 0, id, snapshot_day, now()
                  FROM daily_asset_snapshots WHERE snapshot_day >= @first_day
                 ORDER BY id;
                """;
        }
        sql += """
            UPDATE users u SET current_snapshot_id = s.id
              FROM daily_asset_snapshots s
             WHERE s.user_id = u.id AND s.snapshot_day = @first_day + @days - 1;
            """;
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("first_day", firstDay);
        command.Parameters.AddWithValue("days", days);
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Heap, indexes and TOAST of <see cref="WrittenTables"/>, in bytes; run after VACUUM to count live data and reusable space alike.</summary>
    public async Task<long> WrittenTablesBytesAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"SELECT {string.Join(" + ", WrittenTables.Select(t => $"pg_total_relation_size('{t}')"))}");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>The server's current WAL insert position in bytes from the start: the difference of two is what was written in between.</summary>
    public async Task<long> WalPositionAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public ValueTask DisposeAsync() => dataSource.DisposeAsync();

    private static async Task<List<long>> ReadActiveUserIdsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT id FROM users WHERE status = 'ACTIVE' ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new List<long>();
        while (await reader.ReadAsync(cancellationToken))
            ids.Add(reader.GetInt64(0));
        return ids;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
