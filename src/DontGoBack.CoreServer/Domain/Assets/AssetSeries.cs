namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>One day's snapshot as the profile graph needs it.</summary>
/// <param name="MarketMultiplier">Null when the market did not move the asset that day, e.g. an opening snapshot.</param>
/// <param name="NetFlow">Rewards minus penalties that day, whole KRW; may be negative.</param>
public sealed record DailySnapshotPoint(DateOnly Day, long ClosingAmount, double? MarketMultiplier, long NetFlow);

public enum SeriesInterval
{
    Day,
    Week,
    Month,
}

/// <param name="PeriodStart">First calendar day of the period, even when the first snapshot came later.</param>
/// <param name="PeriodEnd">Last calendar day of the period, even when the last snapshot came earlier.</param>
/// <param name="MarketMultiplier">
/// Product of the period's daily market multipliers, rounded to <see cref="AssetSeries.MultiplierDecimals"/>
/// decimals; the colour is decided on the exact product.
/// </param>
public sealed record AssetSeriesPoint(
    DateOnly PeriodStart,
    DateOnly PeriodEnd,
    long ClosingAmount,
    AssetColour Colour,
    long NetFlow,
    double MarketMultiplier);

public static class AssetSeries
{
    /// <summary>
    /// Decimals of a point's multiplier: a millionth of the asset is 10 KRW on the 10,000,000 start
    /// amount, and a product of daily multipliers otherwise shows floating-point noise (1.0021767299999999).
    /// </summary>
    public const int MultiplierDecimals = 6;

    /// <summary>
    /// One point per period holding at least one snapshot; periods without snapshots are left out, not filled.
    /// </summary>
    /// <param name="days">Ordered by day, at most one per day.</param>
    /// <exception cref="ArgumentException">The days are out of order or a day repeats.</exception>
    public static IReadOnlyList<AssetSeriesPoint> Build(
        IEnumerable<DailySnapshotPoint> days, SeriesInterval interval, AssetColourPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(days);
        ArgumentNullException.ThrowIfNull(policy);

        var points = new List<AssetSeriesPoint>();
        PeriodTotals? open = null;
        DailySnapshotPoint? previous = null;

        foreach (var day in days)
        {
            // The closing amount is taken from the last snapshot, so an unordered input would silently be wrong.
            if (previous is not null && day.Day <= previous.Day)
                throw new ArgumentException(
                    $"Snapshots must be ordered by day with at most one per day; {day.Day:yyyy-MM-dd} follows {previous.Day:yyyy-MM-dd}.",
                    nameof(days));
            previous = day;

            var (start, end) = PeriodOf(day.Day, interval);
            if (open is not null && open.Start != start)
            {
                points.Add(open.ToPoint(policy));
                open = null;
            }

            open ??= new PeriodTotals(start, end);
            open.Add(day);
        }

        if (open is not null)
            points.Add(open.ToPoint(policy));
        return points;
    }

    /// <summary>
    /// A period's point from its totals, wherever they were summed (here or in the database): the colour
    /// is decided on the exact product of the multipliers, the point shows it rounded.
    /// </summary>
    /// <param name="marketMultiplier">Product of the period's daily multipliers in day order, a missing one counting as 1.0.</param>
    public static AssetSeriesPoint PointOf(
        DateOnly start, DateOnly end, long closingAmount, long netFlow, double marketMultiplier, AssetColourPolicy policy) =>
        new(start, end, closingAmount, policy.ForMarketMultiplier(marketMultiplier), netFlow,
            Math.Round(marketMultiplier, MultiplierDecimals, MidpointRounding.AwayFromZero));

    /// <summary>Reads "day", "week" or "month" in any case; null or empty means <see cref="SeriesInterval.Day"/>.</summary>
    /// <remarks>Enum.TryParse is avoided on purpose: it would also accept "0", "2" or "Day,Week".</remarks>
    public static bool TryParseInterval(string? text, out SeriesInterval interval)
    {
        if (string.IsNullOrEmpty(text))
        {
            interval = SeriesInterval.Day;
            return true;
        }

        foreach (var candidate in Enum.GetValues<SeriesInterval>())
        {
            if (string.Equals(text, candidate.ToString(), StringComparison.OrdinalIgnoreCase))
            {
                interval = candidate;
                return true;
            }
        }

        interval = SeriesInterval.Day;
        return false;
    }

    /// <summary>The calendar period holding <paramref name="day"/>: the day itself, its ISO week (Monday first) or its month.</summary>
    public static (DateOnly Start, DateOnly End) PeriodOf(DateOnly day, SeriesInterval interval)
    {
        switch (interval)
        {
            case SeriesInterval.Day:
                return (day, day);
            case SeriesInterval.Week:
                // ISO weeks start on Monday; DayOfWeek counts from Sunday = 0.
                var monday = day.AddDays(-(((int)day.DayOfWeek + 6) % 7));
                return (monday, monday.AddDays(6));
            case SeriesInterval.Month:
                var first = new DateOnly(day.Year, day.Month, 1);
                return (first, first.AddMonths(1).AddDays(-1));
            default:
                throw new ArgumentOutOfRangeException(nameof(interval), interval, "Unknown series interval.");
        }
    }

    private sealed class PeriodTotals(DateOnly start, DateOnly end)
    {
        private long _closingAmount;
        private long _netFlow;
        private double _marketMultiplier = 1.0;

        public DateOnly Start => start;

        public void Add(DailySnapshotPoint day)
        {
            _closingAmount = day.ClosingAmount;
            // A wrapped sum would show a huge reward as a huge penalty; failing loudly is better.
            _netFlow = checked(_netFlow + day.NetFlow);
            _marketMultiplier *= day.MarketMultiplier ?? 1.0;
        }

        public AssetSeriesPoint ToPoint(AssetColourPolicy policy) => PointOf(start, end, _closingAmount, _netFlow, _marketMultiplier, policy);
    }
}
