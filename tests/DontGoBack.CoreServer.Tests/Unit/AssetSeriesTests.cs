using DontGoBack.CoreServer.Domain.Assets;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class AssetSeriesTests
{
    private static readonly AssetColourPolicy DefaultPolicy =
        new(Microsoft.Extensions.Options.Options.Create(new AssetColourOptions()));

    private static DailySnapshotPoint Snapshot(int year, int month, int day, long closing = 1_000_000, double? multiplier = 1.0, long netFlow = 0) =>
        new(new DateOnly(year, month, day), closing, multiplier, netFlow);

    private static IReadOnlyList<AssetSeriesPoint> Build(SeriesInterval interval, params DailySnapshotPoint[] days) =>
        AssetSeries.Build(days, interval, DefaultPolicy);

    [Theory]
    [InlineData(SeriesInterval.Day)]
    [InlineData(SeriesInterval.Week)]
    [InlineData(SeriesInterval.Month)]
    public void No_snapshots_give_an_empty_series(SeriesInterval interval) =>
        Assert.Empty(Build(interval));

    [Fact]
    public void Daily_points_carry_each_snapshot_as_it_is()
    {
        var points = Build(SeriesInterval.Day,
            Snapshot(2025, 3, 1, closing: 1_000_000, multiplier: 1.02, netFlow: 500),
            Snapshot(2025, 3, 2, closing: 990_000, multiplier: 0.99, netFlow: -100));

        Assert.Equal(
            [
                new AssetSeriesPoint(new DateOnly(2025, 3, 1), new DateOnly(2025, 3, 1), 1_000_000, AssetColour.Blue, 500, 1.02),
                new AssetSeriesPoint(new DateOnly(2025, 3, 2), new DateOnly(2025, 3, 2), 990_000, AssetColour.Red, -100, 0.99),
            ],
            points);
    }

    [Fact]
    public void An_opening_snapshot_without_a_market_move_counts_as_one_and_is_blue()
    {
        var point = Assert.Single(Build(SeriesInterval.Day, Snapshot(2025, 3, 1, multiplier: null)));

        Assert.Equal(1.0, point.MarketMultiplier);
        Assert.Equal(AssetColour.Blue, point.Colour);
    }

    [Fact]
    public void A_reward_never_turns_a_losing_day_blue()
    {
        var point = Assert.Single(Build(SeriesInterval.Day,
            Snapshot(2025, 3, 1, closing: 50_000_000, multiplier: 0.98, netFlow: 40_000_000)));

        Assert.Equal(AssetColour.Red, point.Colour);
    }

    [Fact]
    public void A_penalty_never_turns_a_winning_day_red()
    {
        var point = Assert.Single(Build(SeriesInterval.Day,
            Snapshot(2025, 3, 1, closing: 1_000, multiplier: 1.03, netFlow: -9_000_000)));

        Assert.Equal(AssetColour.Blue, point.Colour);
    }

    [Fact]
    public void A_period_closes_on_its_last_snapshot_sums_its_flows_and_multiplies_its_moves()
    {
        var point = Assert.Single(Build(SeriesInterval.Month,
            Snapshot(2025, 4, 3, closing: 1_000_000, multiplier: null, netFlow: 10_000),
            Snapshot(2025, 4, 10, closing: 1_100_000, multiplier: 1.10, netFlow: 0),
            Snapshot(2025, 4, 20, closing: 1_050_000, multiplier: 0.95, netFlow: -3_000)));

        Assert.Equal(new DateOnly(2025, 4, 1), point.PeriodStart);
        Assert.Equal(new DateOnly(2025, 4, 30), point.PeriodEnd);
        Assert.Equal(1_050_000, point.ClosingAmount);
        Assert.Equal(7_000, point.NetFlow);
        Assert.Equal(1.10 * 0.95, point.MarketMultiplier, 12);
        Assert.Equal(AssetColour.Blue, point.Colour);
    }

    [Fact]
    public void A_period_multiplier_is_rounded_to_six_decimals_and_its_colour_taken_from_the_exact_product()
    {
        // 1.0123 × 0.9877 × 1.0031 = 1.002948241…, and 0.99999996 rounds to 1 while the market still lost.
        var week = Assert.Single(Build(SeriesInterval.Week,
            Snapshot(2025, 6, 2, multiplier: 1.0123), Snapshot(2025, 6, 3, multiplier: 0.9877), Snapshot(2025, 6, 4, multiplier: 1.0031)));
        var flat = Assert.Single(Build(SeriesInterval.Day, Snapshot(2025, 6, 2, multiplier: 0.99999996)));

        Assert.Equal(1.002948, week.MarketMultiplier);
        Assert.Equal("1.002948", System.Text.Json.JsonSerializer.Serialize(week.MarketMultiplier));
        Assert.Equal((1.0, AssetColour.Red), (flat.MarketMultiplier, flat.Colour));
    }

    [Fact]
    public void A_period_is_coloured_by_its_combined_market_move_even_when_rewards_raised_the_balance()
    {
        // 1.02 × 0.97 = 0.9894: the market lost over the week, while rewards pushed the closing amount up.
        var point = Assert.Single(Build(SeriesInterval.Week,
            Snapshot(2025, 6, 2, closing: 1_000_000, multiplier: 1.02, netFlow: 0),
            Snapshot(2025, 6, 3, closing: 5_000_000, multiplier: 0.97, netFlow: 4_000_000)));

        Assert.Equal(0.9894, point.MarketMultiplier, 12);
        Assert.Equal(AssetColour.Red, point.Colour);
    }

    [Fact]
    public void Week_colours_follow_the_configured_threshold()
    {
        var strict = new AssetColourPolicy(Microsoft.Extensions.Options.Options.Create(new AssetColourOptions { BlueAtOrAbove = 1.01 }));
        var days = new[] { Snapshot(2025, 6, 2, multiplier: 1.004), Snapshot(2025, 6, 3, multiplier: 1.004) };

        Assert.Equal(AssetColour.Red, Assert.Single(AssetSeries.Build(days, SeriesInterval.Week, strict)).Colour);
        Assert.Equal(AssetColour.Blue, Assert.Single(AssetSeries.Build(days, SeriesInterval.Week, DefaultPolicy)).Colour);
    }

    [Fact]
    public void A_week_crossing_a_month_boundary_is_one_monday_to_sunday_bucket()
    {
        var points = Build(SeriesInterval.Week,
            Snapshot(2025, 7, 27, closing: 1), // Sunday, the week before
            Snapshot(2025, 7, 28, closing: 2), // Monday
            Snapshot(2025, 7, 31, closing: 3),
            Snapshot(2025, 8, 3, closing: 4), // Sunday
            Snapshot(2025, 8, 4, closing: 5)); // Monday, the week after

        Assert.Equal(
            [
                (new DateOnly(2025, 7, 21), new DateOnly(2025, 7, 27), 1L),
                (new DateOnly(2025, 7, 28), new DateOnly(2025, 8, 3), 4L),
                (new DateOnly(2025, 8, 4), new DateOnly(2025, 8, 10), 5L),
            ],
            points.Select(p => (p.PeriodStart, p.PeriodEnd, p.ClosingAmount)));
    }

    [Fact]
    public void A_week_crossing_a_year_boundary_follows_iso_weeks()
    {
        // 2024-12-30 is the Monday of ISO week 2025-W01, which holds 2025-01-01.
        var points = Build(SeriesInterval.Week,
            Snapshot(2024, 12, 29, closing: 1, netFlow: 1),
            Snapshot(2024, 12, 30, closing: 2, netFlow: 10),
            Snapshot(2025, 1, 1, closing: 3, netFlow: 100),
            Snapshot(2025, 1, 5, closing: 4, netFlow: 1_000),
            Snapshot(2025, 1, 6, closing: 5, netFlow: 10_000));

        Assert.Equal(
            [
                (new DateOnly(2024, 12, 23), new DateOnly(2024, 12, 29), 1L, 1L),
                (new DateOnly(2024, 12, 30), new DateOnly(2025, 1, 5), 4L, 1_110L),
                (new DateOnly(2025, 1, 6), new DateOnly(2025, 1, 12), 5L, 10_000L),
            ],
            points.Select(p => (p.PeriodStart, p.PeriodEnd, p.ClosingAmount, p.NetFlow)));
    }

    [Fact]
    public void A_week_bucket_spans_the_whole_week_even_when_only_midweek_has_a_snapshot()
    {
        var point = Assert.Single(Build(SeriesInterval.Week, Snapshot(2025, 1, 1)));

        Assert.Equal(new DateOnly(2024, 12, 30), point.PeriodStart);
        Assert.Equal(new DateOnly(2025, 1, 5), point.PeriodEnd);
    }

    [Fact]
    public void Month_buckets_run_from_the_first_to_the_last_calendar_day()
    {
        var points = Build(SeriesInterval.Month,
            Snapshot(2023, 12, 31, closing: 1),
            Snapshot(2024, 1, 15, closing: 2),
            Snapshot(2024, 2, 10, closing: 3),
            Snapshot(2024, 2, 29, closing: 4),
            Snapshot(2024, 4, 1, closing: 5));

        Assert.Equal(
            [
                (new DateOnly(2023, 12, 1), new DateOnly(2023, 12, 31), 1L),
                (new DateOnly(2024, 1, 1), new DateOnly(2024, 1, 31), 2L),
                (new DateOnly(2024, 2, 1), new DateOnly(2024, 2, 29), 4L),
                (new DateOnly(2024, 4, 1), new DateOnly(2024, 4, 30), 5L),
            ],
            points.Select(p => (p.PeriodStart, p.PeriodEnd, p.ClosingAmount)));
    }

    [Fact]
    public void Periods_without_snapshots_are_left_out()
    {
        var points = Build(SeriesInterval.Day, Snapshot(2025, 5, 1), Snapshot(2025, 5, 4));

        Assert.Equal([new DateOnly(2025, 5, 1), new DateOnly(2025, 5, 4)], points.Select(p => p.PeriodStart));
    }

    [Fact]
    public void Snapshots_out_of_order_are_rejected() =>
        Assert.Throws<ArgumentException>(() => Build(SeriesInterval.Week, Snapshot(2025, 5, 2), Snapshot(2025, 5, 1)));

    [Fact]
    public void Two_snapshots_for_one_day_are_rejected() =>
        Assert.Throws<ArgumentException>(() => Build(SeriesInterval.Day, Snapshot(2025, 5, 1), Snapshot(2025, 5, 1)));

    [Fact]
    public void A_net_flow_sum_that_overflows_a_long_throws_rather_than_wrapping() =>
        Assert.Throws<OverflowException>(() => Build(SeriesInterval.Month,
            Snapshot(2025, 5, 1, netFlow: long.MaxValue), Snapshot(2025, 5, 2, netFlow: 1)));

    [Theory]
    [InlineData("day", SeriesInterval.Day)]
    [InlineData("week", SeriesInterval.Week)]
    [InlineData("month", SeriesInterval.Month)]
    [InlineData("WEEK", SeriesInterval.Week)]
    [InlineData("Month", SeriesInterval.Month)]
    [InlineData(null, SeriesInterval.Day)]
    [InlineData("", SeriesInterval.Day)]
    public void Known_intervals_parse_in_any_case_and_missing_means_day(string? text, SeriesInterval expected)
    {
        Assert.True(AssetSeries.TryParseInterval(text, out var interval));
        Assert.Equal(expected, interval);
    }

    [Theory]
    [InlineData("year")]
    [InlineData("weekly")]
    [InlineData(" week")]
    [InlineData("1")]
    [InlineData("Day,Week")]
    public void Unknown_intervals_do_not_parse(string text) =>
        Assert.False(AssetSeries.TryParseInterval(text, out _));
}
