using System.Data;
using System.Data.Common;
using DontGoBack.CoreServer.Domain.Users;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <param name="Nickname">From the balance the user's pointer is on; null when the user has no snapshot yet.</param>
public sealed record SeriesRead(string? Nickname, IReadOnlyList<AssetSeriesPoint> Points);

/// <summary>
/// One visible profile's series in one round trip: the visibility check, the balance for the
/// nickname and the range of snapshots come from a single statement that walks the unique
/// (user_id, snapshot_day) index once — no tracking, no second query; on PostgreSQL the read
/// pool prepares it on each connection the first time it runs there. With
/// <c>aggregatesInDatabase</c> (PostgreSQL) a week or month view is summed by the database,
/// so a year of months sends 12 rows rather than 365; the product of the
/// multipliers is the <c>series_product</c> aggregate (IEEE multiplication in day order, as
/// <see cref="AssetSeries.Build"/> does), so both paths give the same bits and the same colour.
/// SQLite, the embedded single-process database, folds the day rows in process.
/// A month view reads every month rolled up (<see cref="AssetRolledUpMonth.RolledUpAt"/> set: the lifecycle rolls a month up
/// as soon as it closes, and writers keep its roll-ups current until it is sealed) from its roll-ups, whole, and the daily
/// rows only after the newest of them, so a two-year graph reads about 24 roll-ups and this month's days rather than 731
/// days, reaches back to the user's opening after the days are let go, and a month reads the same before and after it is
/// rolled up.
/// </summary>
public sealed class AssetSeriesReader(Func<CancellationToken, Task<DbConnection>> openConnection, bool aggregatesInDatabase, AssetColourPolicy colours)
{
    // A LEFT JOIN rather than a second query: a visible user without snapshots in the range is one row of NULLs.
    public const string DaysSql = $"""
        SELECT c.closing_amount, s.snapshot_day, s.closing_amount, s.net_flow, s.market_multiplier
          FROM users u
          LEFT JOIN daily_asset_snapshots c ON c.id = u.current_snapshot_id AND c.snapshot_day = u.current_snapshot_day
          LEFT JOIN daily_asset_snapshots s ON s.user_id = u.id AND s.snapshot_day BETWEEN @from AND @to
         WHERE u.id = @user_id AND u.status = '{AccountStatusNames.Active}'
         ORDER BY s.snapshot_day
        """;

    // date_trunc on a timestamp, not a date: a date would be widened to timestamptz and the
    // period would then depend on the session's time zone. 'week' is ISO, Monday first.
    public const string PeriodsSql = $"""
        SELECT c.closing_amount, p.period_start, p.closing_amount, p.net_flow, p.multiplier
          FROM users u
          LEFT JOIN daily_asset_snapshots c ON c.id = u.current_snapshot_id AND c.snapshot_day = u.current_snapshot_day
          LEFT JOIN LATERAL (
                SELECT date_trunc(@unit, s.snapshot_day::timestamp)::date AS period_start,
                       (array_agg(s.closing_amount ORDER BY s.snapshot_day DESC))[1] AS closing_amount,
                       sum(s.net_flow)::bigint AS net_flow,
                       series_product(coalesce(s.market_multiplier, 1) ORDER BY s.snapshot_day) AS multiplier
                  FROM daily_asset_snapshots s
                 WHERE s.user_id = u.id AND s.snapshot_day BETWEEN @from AND @to
                 GROUP BY 1) p ON true
         WHERE u.id = @user_id AND u.status = '{AccountStatusNames.Active}'
         ORDER BY p.period_start
        """;

    // The newest month whose roll-up is finished. The rolled-up months are a contiguous range from the oldest month of the
    // history, and at most the month after it is begun (rolled_up_at NULL, some users' roll-ups written, others not): that
    // one is read from its days. A scalar subquery, so PostgreSQL computes it once, before either branch starts (an
    // InitPlan), and both the days' index range and the month partitions pruned start from it.
    private const string NewestRolledUpMonth = "(SELECT max(m.month) FROM asset_rolled_up_months m WHERE m.rolled_up_at IS NOT NULL)";

    // The month view: the user's roll-ups of rolled-up months overlapping the range, then the days from the first day after
    // the newest rolled-up month (a current snapshot kept in a rolled-up month is read from its roll-up), or from @from when
    // none is. The last column tells a roll-up (1) from a day or a month summed from days (0). Both branches name the user,
    // so each walks its own index: the roll-ups' (user_id, month) key, the days' (user_id, snapshot_day) from the horizon.
    public const string SqliteMonthsSql = $"""
        SELECT c.closing_amount, x.day, x.closing_amount, x.net_flow, x.market_multiplier, x.rolled_up
          FROM users u
          LEFT JOIN daily_asset_snapshots c ON c.id = u.current_snapshot_id AND c.snapshot_day = u.current_snapshot_day
          LEFT JOIN (
                SELECT r.month AS day, r.closing_amount, r.net_flow, r.market_multiplier, 1 AS rolled_up
                  FROM asset_month_rollups r
                 WHERE r.user_id = @user_id AND r.month <= {NewestRolledUpMonth} AND r.last_day >= @from AND r.first_day <= @to
                UNION ALL
                SELECT s.snapshot_day, s.closing_amount, s.net_flow, s.market_multiplier, 0
                  FROM daily_asset_snapshots s
                 WHERE s.user_id = @user_id AND s.snapshot_day BETWEEN @from AND @to
                   AND s.snapshot_day >= coalesce(date({NewestRolledUpMonth}, '+1 month'), @from)) x ON true
         WHERE u.id = @user_id AND u.status = '{AccountStatusNames.Active}'
         ORDER BY x.day
        """;

    public const string PostgresMonthsSql = $"""
        SELECT c.closing_amount, x.day, x.closing_amount, x.net_flow, x.market_multiplier, x.rolled_up
          FROM users u
          LEFT JOIN daily_asset_snapshots c ON c.id = u.current_snapshot_id AND c.snapshot_day = u.current_snapshot_day
          LEFT JOIN LATERAL (
                SELECT r.month AS day, r.closing_amount, r.net_flow, r.market_multiplier, 1 AS rolled_up
                  FROM asset_month_rollups r
                 WHERE r.user_id = u.id AND r.month <= {NewestRolledUpMonth} AND r.last_day >= @from AND r.first_day <= @to
                UNION ALL
                SELECT date_trunc('month', s.snapshot_day::timestamp)::date,
                       (array_agg(s.closing_amount ORDER BY s.snapshot_day DESC))[1],
                       sum(s.net_flow)::bigint,
                       series_product(coalesce(s.market_multiplier, 1) ORDER BY s.snapshot_day),
                       0
                  FROM daily_asset_snapshots s
                 WHERE s.user_id = u.id AND s.snapshot_day BETWEEN @from AND @to
                   AND s.snapshot_day >= coalesce(({NewestRolledUpMonth} + interval '1 month')::date, @from)
                 GROUP BY 1) x ON true
         WHERE u.id = @user_id AND u.status = '{AccountStatusNames.Active}'
         ORDER BY x.day
        """;

    /// <returns>Null when there is no visible (ACTIVE) profile with this id.</returns>
    public async Task<SeriesRead?> ReadAsync(long userId, DateOnly first, DateOnly last, SeriesInterval interval, CancellationToken cancellationToken)
    {
        var periodsInDatabase = aggregatesInDatabase && interval != SeriesInterval.Day;
        var months = interval == SeriesInterval.Month;
        await using var connection = await openConnection(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = months ? (aggregatesInDatabase ? PostgresMonthsSql : SqliteMonthsSql) : periodsInDatabase ? PeriodsSql : DaysSql;
        AddParameter(command, "user_id", DbType.Int64, userId);
        AddParameter(command, "from", DbType.Date, first);
        AddParameter(command, "to", DbType.Date, last);
        if (periodsInDatabase && !months)
            AddParameter(command, "unit", DbType.String, "week");

        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleResult, cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            return null;
        var nickname = reader.IsDBNull(0) ? null : AssetNickname.Format(reader.GetInt64(0));
        var points = new List<AssetSeriesPoint>();
        var days = new List<DailySnapshotPoint>();
        // A visible user with nothing in the range comes back as one row with a NULL day.
        if (!reader.IsDBNull(1))
        {
            do
            {
                var start = reader.GetFieldValue<DateOnly>(1);
                var (closing, netFlow) = (reader.GetInt64(2), reader.GetInt64(3));
                double? multiplier = reader.IsDBNull(4) ? null : reader.GetDouble(4);
                // A rolled-up month is a point as it is: its totals were summed from its days when it was rolled up.
                if (periodsInDatabase || interval == SeriesInterval.Day || (months && reader.GetInt32(5) == 1))
                {
                    var (periodStart, periodEnd) = AssetSeries.PeriodOf(start, interval);
                    points.Add(AssetSeries.PointOf(periodStart, periodEnd, closing, netFlow, multiplier ?? 1.0, colours));
                }
                else
                {
                    days.Add(new DailySnapshotPoint(start, closing, multiplier, netFlow));
                }
            }
            while (await reader.ReadAsync(cancellationToken));
        }
        // Folded days come after any roll-up: every rolled-up month precedes the first day read.
        return new SeriesRead(nickname, periodsInDatabase || interval == SeriesInterval.Day ? points : [.. points, .. AssetSeries.Build(days, interval, colours)]);
    }

    private static void AddParameter(DbCommand command, string name, DbType type, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.DbType = type;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
