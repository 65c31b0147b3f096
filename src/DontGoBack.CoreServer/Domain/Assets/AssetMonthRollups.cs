using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// Writes the monthly roll-ups (<see cref="AssetMonthRollup"/>) from the daily rows: every user's of one month, when the
/// history lifecycle rolls a closed month up, and some users' again, when a writer changed their days in a month rolled up
/// and not yet sealed (<see cref="AssetRolledUpMonth"/>). One statement shape for both, so a roll-up written again reads
/// exactly as one written with the month.
/// </summary>
/// <remarks>
/// Keeping a roll-up current is the writer's part, in the writer's own transaction and after its writes: a month's roll-up
/// begins by recording the month under a lock that waits for every write in flight
/// (<see cref="AssetHistoryLifecycle"/>), so a write either committed before the roll-up read the days, or sees the month
/// recorded when it looks and writes its users' roll-ups again. The roll-up keeps a row a writer wrote first
/// (<c>DO NOTHING</c>); a writer replaces the roll-up's (<c>DO UPDATE</c>).
/// </remarks>
public static class AssetMonthRollups
{
    // The product is taken in day order, a missing multiplier counting as 1.0, as the graph multiplies the days (IEEE
    // multiplication is not associative, so the order gives the same bits). Rows go in by user and month, whoever writes
    // them: a writer and a month's roll-up that meet on the same users then wait for each other in one order and never
    // deadlock. SQLite needs the WHERE before ON CONFLICT to tell it from a join's ON.
    private static string RollUpSql(string month, string groupBy, string where, string onConflict) => $"""
        INSERT INTO asset_month_rollups (user_id, month, first_day, last_day, days, opening_amount, closing_amount, net_flow, market_multiplier)
        SELECT g.user_id, g.month, g.first_day, g.last_day, g.days,
               (SELECT f.opening_amount FROM daily_asset_snapshots f WHERE f.user_id = g.user_id AND f.snapshot_day = g.first_day),
               (SELECT l.closing_amount FROM daily_asset_snapshots l WHERE l.user_id = g.user_id AND l.snapshot_day = g.last_day),
               g.net_flow, g.multiplier
          FROM (SELECT s.user_id, {month} AS month, MIN(s.snapshot_day) AS first_day, MAX(s.snapshot_day) AS last_day, COUNT(*) AS days,
                       SUM(s.net_flow) AS net_flow,
                       series_product(COALESCE(s.market_multiplier, 1.0) ORDER BY s.snapshot_day) AS multiplier
                  FROM daily_asset_snapshots s
                 WHERE {where}
                 GROUP BY {groupBy}) g
         WHERE true
         ORDER BY g.user_id, g.month
        ON CONFLICT (user_id, month) {onConflict}
        """;

    private const string KeepWritersRow = "DO NOTHING";

    private const string ReplaceRow = """
        DO UPDATE SET first_day = excluded.first_day, last_day = excluded.last_day, days = excluded.days,
                      opening_amount = excluded.opening_amount, closing_amount = excluded.closing_amount,
                      net_flow = excluded.net_flow, market_multiplier = excluded.market_multiplier
        """;

    /// <summary>Every user's roll-up of the month @month to @next, but the rows a writer wrote first.</summary>
    public static readonly string MonthSql = RollUpSql(
        "@month", "s.user_id", "s.snapshot_day >= @month AND s.snapshot_day < @next", KeepWritersRow);

    // The users' months from the one of @day on that are rolled up (or being rolled up) and not sealed: a sealed month takes
    // no write, and a month not rolled up has no roll-up to keep. The first EXISTS is a one-time test: on the daily
    // refresh's own day no such month exists, and the days are not read at all.
    private static string RolledUpUnsealedFrom(string monthOfDay, string endOfNewestUnsealed) => $"""
        s.snapshot_day >= @from_month
           AND EXISTS (SELECT 1 FROM asset_rolled_up_months m WHERE m.month >= @from_month AND m.sealed_at IS NULL)
           AND s.snapshot_day < {endOfNewestUnsealed}
           AND EXISTS (SELECT 1 FROM asset_rolled_up_months m WHERE m.month = {monthOfDay} AND m.sealed_at IS NULL)
        """;

    private const string NewestUnsealed = "(SELECT MAX(m.month) FROM asset_rolled_up_months m WHERE m.sealed_at IS NULL)";

    /// <summary>The first day of the month of a date column, in PostgreSQL's SQL (on a timestamp, so no session time zone comes in).</summary>
    public static string PostgresMonthOf(string day) => $"date_trunc('month', {day}::timestamp)::date";

    /// <summary>The first day of the month of a date column, in SQLite's SQL (dates are ISO text).</summary>
    public static string SqliteMonthOf(string day) => $"date({day}, 'start of month')";

    private static readonly string PostgresMonthOfDay = PostgresMonthOf("s.snapshot_day");
    private static readonly string SqliteMonthOfDay = SqliteMonthOf("s.snapshot_day");

    internal static readonly string PostgresAgainSql = RollUpSql(
        PostgresMonthOfDay, $"s.user_id, {PostgresMonthOfDay}",
        "s.user_id = ANY(@user_ids) AND " + RolledUpUnsealedFrom(PostgresMonthOfDay, $"({NewestUnsealed} + interval '1 month')::date"),
        ReplaceRow);

    internal static readonly string SqliteAgainSql = RollUpSql(
        SqliteMonthOfDay, $"s.user_id, {SqliteMonthOfDay}",
        "s.user_id IN (SELECT value FROM json_each(@user_ids)) AND " + RolledUpUnsealedFrom(SqliteMonthOfDay, $"date({NewestUnsealed}, '+1 month')"),
        ReplaceRow);

    /// <summary>
    /// Writes again, inside the writer's transaction and after its writes, the roll-ups of <paramref name="userIds"/> for
    /// every month from the one of <paramref name="day"/> on that is rolled up and not sealed: the day written and the later
    /// days a re-base moved. Nothing is read when no such month exists. Returns the roll-up rows written.
    /// </summary>
    public static async Task<int> RollUpAgainAsync(
        DbConnection connection, DbTransaction? transaction, IReadOnlyCollection<long> userIds, DateOnly day, CancellationToken cancellationToken)
    {
        if (userIds.Count == 0)
            return 0;
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        var fromMonth = new DateOnly(day.Year, day.Month, 1);
        switch (connection)
        {
            case NpgsqlConnection:
                command.CommandText = PostgresAgainSql;
                command.Parameters.Add(new NpgsqlParameter("user_ids", userIds.ToArray()));
                command.Parameters.Add(new NpgsqlParameter("from_month", fromMonth));
                break;
            case SqliteConnection sqlite:
                UseSeriesProduct(sqlite);
                command.CommandText = SqliteAgainSql;
                command.Parameters.Add(new SqliteParameter("@user_ids", "[" + string.Join(',', userIds) + "]"));
                command.Parameters.Add(new SqliteParameter("@from_month", fromMonth));
                break;
            default:
                throw new NotSupportedException($"No roll-up statement for {connection.GetType().Name}.");
        }
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>SQLite's functions live on the connection; PostgreSQL has <c>series_product</c> from a migration.</summary>
    public static void UseSeriesProduct(SqliteConnection connection) =>
        connection.CreateAggregate("series_product", 1.0, (double product, double multiplier) => product * multiplier, isDeterministic: true);
}
