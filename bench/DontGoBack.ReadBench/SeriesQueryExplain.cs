using System.Text.Json;
using DontGoBack.CoreServer.Domain.Assets;
using Npgsql;

namespace DontGoBack.ReadBench;

/// <summary>The yardstick: what the database itself needs for one user's series, without HTTP, the pool or serialisation.</summary>
public static class SeriesQueryExplain
{
    // The two statements of the series endpoint before the read path was tuned, written out from its
    // two LINQ queries in the shape EF Core translates them to (not copied from its command log),
    // kept to measure the before figures again.
    private static readonly string[] Before =
    [
        """
        SELECT d.closing_amount AS "Current", d.id FROM users AS u LEFT JOIN daily_asset_snapshots AS d ON u.current_snapshot_id = d.id
         WHERE u.id = @user_id AND u.status = 'ACTIVE' LIMIT 2
        """,
        """
        SELECT d.snapshot_day, d.closing_amount, d.market_multiplier, d.net_flow FROM daily_asset_snapshots AS d
         WHERE d.user_id = @user_id AND d.snapshot_day >= @from AND d.snapshot_day <= @to ORDER BY d.snapshot_day
        """,
    ];

    public static async Task<int> RunAsync(
        string connectionString, long user, string interval, DateOnly firstDay, DateOnly lastDay, bool before, TextWriter output, CancellationToken cancellationToken)
    {
        // The statement the server sends for the interval (AssetSeriesReader.ReadAsync on PostgreSQL): a month view reads the roll-ups too.
        string[] statements = before ? Before : [interval switch
        {
            "day" => AssetSeriesReader.DaysSql,
            "month" => AssetSeriesReader.PostgresMonthsSql,
            _ => AssetSeriesReader.PeriodsSql,
        }];
        await using var source = NpgsqlDataSource.Create(connectionString);
        await using var connection = await source.OpenConnectionAsync(cancellationToken);
        var total = 0.0;
        var parts = new List<string>();
        foreach (var sql in statements)
        {
            await using var command = new NpgsqlCommand($"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", connection);
            command.Parameters.AddWithValue("user_id", user);
            command.Parameters.AddWithValue("from", firstDay);
            command.Parameters.AddWithValue("to", lastDay);
            if (sql.Contains("@unit", StringComparison.Ordinal))
                command.Parameters.AddWithValue("unit", interval);
            var json = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
            using var plan = JsonDocument.Parse(json);
            var root = plan.RootElement[0];
            var execution = root.GetProperty("Execution Time").GetDouble();
            var planning = root.GetProperty("Planning Time").GetDouble();
            var buffers = root.GetProperty("Plan");
            var hits = buffers.GetProperty("Shared Hit Blocks").GetInt64();
            var reads = buffers.GetProperty("Shared Read Blocks").GetInt64();
            total += execution;
            parts.Add($"{execution:F3} ms ({buffers.GetProperty("Node Type").GetString()}, {hits} buffers hit, {reads} read, planning {planning:F3} ms)");
        }
        output.WriteLine($"database time ({(before ? "the statements before" : "the series statement")}), user {user}, {interval} {firstDay:yyyy-MM-dd} to {lastDay:yyyy-MM-dd}: {total:F3} ms = {string.Join(" + ", parts)}");
        return 0;
    }
}
