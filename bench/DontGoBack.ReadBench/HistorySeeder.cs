using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;

namespace DontGoBack.ReadBench;

/// <summary>
/// Writes N ACTIVE users with D days of history each by binary COPY, in the order the daily job
/// writes it (day by day, every user within a day), so a user's rows lie on D different heap
/// pages as they do in production. The history keeps the chain rule: day 0 opens at the start
/// amount without a market move; each later day opens at the closing before it and closes at
/// round(opening × multiplier) plus that day's net flow (a reward on about 1 user-day in 100,
/// with its change row). Market moves have no change rows: the series never reads them.
/// </summary>
public sealed class HistorySeeder(string connectionString, int users, int days, DateOnly lastDay, TextWriter progress)
{
    public const long StartAmount = 10_000_000;
    public const long Reward = 100_000;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var firstDay = lastDay.AddDays(-(days - 1));
        var now = DateTimeOffset.UtcNow;
        await using var source = NpgsqlDataSource.Create(connectionString);
        await using var connection = await source.OpenConnectionAsync(cancellationToken);
        var clock = Stopwatch.StartNew();

        await ExecuteAsync(connection, "TRUNCATE users, daily_asset_snapshots, asset_changes CASCADE", cancellationToken);
        // Indexes are built once after the load (far cheaper than 90M index inserts) from their own definitions.
        var indexes = new List<(string Name, string Definition)>();
        await using (var read = new NpgsqlCommand("""
            SELECT i.indexname, i.indexdef FROM pg_indexes i
             WHERE i.tablename IN ('daily_asset_snapshots', 'asset_changes', 'users')
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """, connection))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                indexes.Add((reader.GetString(0), reader.GetString(1)));
        }
        foreach (var (name, _) in indexes)
            await ExecuteAsync(connection, $"DROP INDEX \"{name}\"", cancellationToken);
        // Foreign keys are not checked row by row during the load: the ids are consistent by construction.
        await ExecuteAsync(connection, "SET session_replication_role = replica", cancellationToken);

        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY users (id, status, created_at, opening_day, current_snapshot_id) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            for (long user = 1; user <= users; user++)
            {
                await copy.StartRowAsync(cancellationToken);
                await copy.WriteAsync(user, NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync("ACTIVE", NpgsqlDbType.Varchar, cancellationToken);
                await copy.WriteAsync(now, NpgsqlDbType.TimestampTz, cancellationToken);
                await copy.WriteAsync(firstDay, NpgsqlDbType.Date, cancellationToken);
                await copy.WriteAsync(SnapshotId(days - 1, user), NpgsqlDbType.Bigint, cancellationToken);
            }
            await copy.CompleteAsync(cancellationToken);
        }
        progress.WriteLine($"users: {users:N0} in {clock.Elapsed.TotalSeconds:F1} s");

        var closing = new long[users + 1];
        var rewards = new List<(long User, int Day, long Before)>();
        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY daily_asset_snapshots (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at) FROM STDIN (FORMAT BINARY)",
            cancellationToken))
        {
            for (var day = 0; day < days; day++)
            {
                var snapshotDay = firstDay.AddDays(day);
                for (long user = 1; user <= users; user++)
                {
                    long opening, moved, netFlow = 0;
                    double? multiplier = null;
                    if (day == 0)
                    {
                        opening = moved = StartAmount;
                    }
                    else
                    {
                        var hash = Mix((ulong)user * 1_000_003UL + (ulong)day);
                        // 0.9700 to 1.0300 in steps of 0.0001, inside the contract's daily bound.
                        multiplier = 0.97 + (hash % 601) / 10_000.0;
                        opening = closing[user];
                        moved = (long)Math.Round(opening * multiplier.Value, MidpointRounding.AwayFromZero);
                        if ((hash >> 20) % 100 == 0)
                        {
                            netFlow = Reward;
                            rewards.Add((user, day, moved));
                        }
                    }
                    closing[user] = moved + netFlow;
                    await copy.StartRowAsync(cancellationToken);
                    await copy.WriteAsync(SnapshotId(day, user), NpgsqlDbType.Bigint, cancellationToken);
                    await copy.WriteAsync(user, NpgsqlDbType.Bigint, cancellationToken);
                    await copy.WriteAsync(snapshotDay, NpgsqlDbType.Date, cancellationToken);
                    await copy.WriteAsync(opening, NpgsqlDbType.Bigint, cancellationToken);
                    await copy.WriteAsync(closing[user], NpgsqlDbType.Bigint, cancellationToken);
                    if (multiplier is { } m)
                        await copy.WriteAsync(m, NpgsqlDbType.Double, cancellationToken);
                    else
                        await copy.WriteNullAsync(cancellationToken);
                    await copy.WriteAsync(moved - opening, NpgsqlDbType.Bigint, cancellationToken);
                    await copy.WriteAsync(netFlow, NpgsqlDbType.Bigint, cancellationToken);
                    await copy.WriteAsync(now, NpgsqlDbType.TimestampTz, cancellationToken);
                }
                if (day % 10 == 9 || day == days - 1)
                    progress.WriteLine($"snapshots: day {day + 1} of {days} ({(long)(day + 1) * users:N0} rows) at {clock.Elapsed.TotalSeconds:F1} s");
            }
            await copy.CompleteAsync(cancellationToken);
        }

        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY asset_changes (user_id, kind, amount_before, amount_after, delta, reason, snapshot_id, snapshot_day, changed_at) FROM STDIN (FORMAT BINARY)",
            cancellationToken))
        {
            for (long user = 1; user <= users; user++)
                await WriteChangeAsync(copy, user, "Opening", 0, StartAmount, "read bench opening", SnapshotId(0, user), firstDay, now, cancellationToken);
            foreach (var (user, day, before) in rewards)
                await WriteChangeAsync(copy, user, "Reward", before, before + Reward, "read bench reward", SnapshotId(day, user), firstDay.AddDays(day), now, cancellationToken);
            await copy.CompleteAsync(cancellationToken);
        }
        progress.WriteLine($"changes: {users + rewards.Count:N0} at {clock.Elapsed.TotalSeconds:F1} s");

        await ExecuteAsync(connection, "SET session_replication_role = DEFAULT", cancellationToken);
        await ExecuteAsync(connection, "SET maintenance_work_mem = '1GB'", cancellationToken);
        foreach (var (name, definition) in indexes)
        {
            await ExecuteAsync(connection, definition, cancellationToken);
            progress.WriteLine($"index {name} at {clock.Elapsed.TotalSeconds:F1} s");
        }
        foreach (var table in new[] { "users", "daily_asset_snapshots", "asset_changes" })
            await ExecuteAsync(connection, $"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))", cancellationToken);
        // As autovacuum would leave a table nobody writes to: statistics and the visibility map.
        await ExecuteAsync(connection, "VACUUM (ANALYZE) users, daily_asset_snapshots, asset_changes", cancellationToken);
        progress.WriteLine($"seeded {users:N0} users × {days} days ({firstDay:yyyy-MM-dd} to {lastDay:yyyy-MM-dd}) in {clock.Elapsed.TotalSeconds:F1} s");
    }

    private long SnapshotId(int day, long user) => (long)day * users + user;

    private static async Task WriteChangeAsync(
        NpgsqlBinaryImporter copy, long user, string kind, long before, long after, string reason, long snapshotId, DateOnly day,
        DateTimeOffset at, CancellationToken cancellationToken)
    {
        await copy.StartRowAsync(cancellationToken);
        await copy.WriteAsync(user, NpgsqlDbType.Bigint, cancellationToken);
        await copy.WriteAsync(kind, NpgsqlDbType.Varchar, cancellationToken);
        await copy.WriteAsync(before, NpgsqlDbType.Bigint, cancellationToken);
        await copy.WriteAsync(after, NpgsqlDbType.Bigint, cancellationToken);
        await copy.WriteAsync(after - before, NpgsqlDbType.Bigint, cancellationToken);
        await copy.WriteAsync(reason, NpgsqlDbType.Varchar, cancellationToken);
        await copy.WriteAsync(snapshotId, NpgsqlDbType.Bigint, cancellationToken);
        await copy.WriteAsync(day, NpgsqlDbType.Date, cancellationToken);
        await copy.WriteAsync(at, NpgsqlDbType.TimestampTz, cancellationToken);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // SplitMix64: a cheap, well-spread hash, so every (user, day) gets the same multiplier in every run.
    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
