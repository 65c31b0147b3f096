using System.Diagnostics;
using DontGoBack.BenchSeed;
using Npgsql;
using NpgsqlTypes;

namespace DontGoBack.Bench;

/// <summary>One of the bench's own databases on the throwaway server, recreated by every run.</summary>
internal sealed class BenchDatabase(NpgsqlDataSource dataSource, string connectionString, string name) : IAsyncDisposable
{
    /// <summary>The seeded database: the job runs on it with no history before its days.</summary>
    public const string FreshName = "dontgoback_bench";

    /// <summary>With <c>--history-days</c>: the same seed, then the history; its days alternate with the fresh one's.</summary>
    public const string DeepName = "dontgoback_bench_deep";

    public string Name => name;

    /// <summary>A day no run uses, so the floor's rows never meet the seed's or the job's.</summary>
    private static readonly DateOnly FloorDay = new(2000, 1, 1);

    private const string FloorSnapshotsCopySql = """
        COPY daily_asset_snapshots
             (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
        FROM STDIN (FORMAT BINARY)
        """;

    /// <summary>
    /// The snapshots just copied are found by their ids, as the job knows its own: by their day there is
    /// no index, and a scan of the whole history took 10 s at 66 days of 1,000,000 users.
    /// </summary>
    private const string FloorMovePointersSql = """
        UPDATE users SET current_snapshot_id = s.id, current_snapshot_day = s.snapshot_day
          FROM daily_asset_snapshots s
         WHERE s.id BETWEEN @first_snapshot_id AND @last_snapshot_id AND s.user_id = users.id
        """;

    /// <summary>For the core server, exactly as given: the job is measured on its own connection settings.</summary>
    public string ConnectionString => connectionString;

    public static async Task<BenchDatabase> RecreateAsync(string adminConnectionString, string name, CancellationToken cancellationToken)
    {
        // Unpooled: a pooled idle connection to the admin database would outlive the run for nothing.
        var admin = new NpgsqlConnectionStringBuilder(adminConnectionString) { Pooling = false };
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync(cancellationToken);
            await ExecuteAsync(connection, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)", cancellationToken);
            await ExecuteAsync(connection, $"CREATE DATABASE {name}", cancellationToken);
        }

        var bench = new NpgsqlConnectionStringBuilder(adminConnectionString) { Database = name };
        // No command timeout for the bench's own statements: VACUUM and the floor grow with the user count.
        var own = new NpgsqlConnectionStringBuilder(bench.ConnectionString) { CommandTimeout = 0 };
        return new BenchDatabase(NpgsqlDataSource.Create(own.ConnectionString), bench.ConnectionString, name);
    }

    /// <summary>
    /// VACUUM ANALYZE, then a CHECKPOINT, then the machine's <c>sync</c>: what is timed next (the floor,
    /// a job) starts with no dirty buffers, no checkpoint owed from the work before it (the floor had
    /// moved from 15 to 23 s between runs on the same data; a checkpoint of the seed's writes falling
    /// inside it is one cause), and no write-back of it still going to the disk. The server runs with
    /// fsync off on this machine (<c>scripts/postgres.sh</c>), so the checkpoint only hands its pages to
    /// the kernel, which writes them out over the next half minute; a day at depth leaves about 1.6 GB of
    /// them, and without the sync that write-back fell into whatever was timed next. In production a
    /// day's write-back has the day to finish. Returns how long the sync took: the write-back left over.
    /// </summary>
    public async Task<TimeSpan> SettleAsync(CancellationToken cancellationToken)
    {
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            await ExecuteAsync(connection, "VACUUM ANALYZE", cancellationToken);
            await ExecuteAsync(connection, "CHECKPOINT", cancellationToken);
        }
        var clock = Stopwatch.StartNew();
        using var sync = Process.Start(new ProcessStartInfo("sync") { UseShellExecute = false })
                         ?? throw new BenchFailedException("could not start sync");
        await sync.WaitForExitAsync(cancellationToken);
        if (sync.ExitCode != 0)
            throw new BenchFailedException($"sync exited with code {sync.ExitCode}");
        return clock.Elapsed;
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

        // A probe of users per copied row, as the job's pointer update does. The planner expected 19,799 of
        // the 1,000,000 rows the COPY added and chose a hash join, which spilled to disk and took 11.6–12.4 s
        // where a probe per row took 9.8–10.0 s (the same rows found by their day; one day of history).
        await using (var probes = new NpgsqlCommand("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off", connection, transaction))
            await probes.ExecuteNonQueryAsync(cancellationToken);

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
            movePointers.Parameters.AddWithValue("first_snapshot_id", firstSnapshotId);
            movePointers.Parameters.AddWithValue("last_snapshot_id", firstSnapshotId + activeUserIds.Count - 1);
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

    /// <summary>The seeder both benches share: users, openings and history by binary COPY.</summary>
    public HistoryCopy History => new(dataSource, Progress.Say);

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
