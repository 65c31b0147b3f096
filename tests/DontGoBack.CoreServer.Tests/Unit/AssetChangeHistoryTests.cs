using DontGoBack.CoreServer.Domain.Assets;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class AssetChangeHistoryTests
{
    private static readonly DateOnly D1 = new(2025, 8, 8);
    private static readonly DateTimeOffset T = new(2025, 8, 10, 0, 0, 0, TimeSpan.Zero);
    private static long _id;

    private static AssetChange Recorded(AssetChangeKind kind, long before, long after, DateOnly day, long snapshotId, string? reason = null, DateTimeOffset? at = null) =>
        new() { Id = ++_id, UserId = 1, Kind = kind, AmountBefore = before, AmountAfter = after, Delta = after - before, SnapshotDay = day, SnapshotId = snapshotId, Reason = reason, ChangedAt = at ?? T };

    private static SnapshotMarketMove Move(long snapshotId, DateOnly day, long opening, long delta) => new(snapshotId, day, opening, delta, T);

    private static (AssetChangeKind, long, long, DateOnly)[] Read(List<AssetChange> history) =>
        history.Select(c => (c.Kind, c.AmountBefore, c.AmountAfter, c.SnapshotDay)).ToArray();

    [Fact]
    public void Market_moves_go_between_the_changes_written_before_and_after_them()
    {
        var (d2, d3) = (D1.AddDays(1), D1.AddDays(2));
        var history = AssetChangeHistory.Merge(1,
            [
                Recorded(AssetChangeKind.Opening, 0, 10_000_000, D1, 1),
                Recorded(AssetChangeKind.Reward, 10_000_000, 10_500_000, D1, 1),
                Recorded(AssetChangeKind.Penalty, 10_605_000, 10_600_000, d3, 3),
            ],
            [Move(2, d2, 10_500_000, 105_000), Move(3, d3, 10_605_000, 0)]);

        Assert.Equal(
            [
                (AssetChangeKind.Opening, 0L, 10_000_000L, D1), (AssetChangeKind.Reward, 10_000_000L, 10_500_000L, D1),
                (AssetChangeKind.Market, 10_500_000L, 10_605_000L, d2), (AssetChangeKind.Market, 10_605_000L, 10_605_000L, d3),
                (AssetChangeKind.Penalty, 10_605_000L, 10_600_000L, d3),
            ],
            Read(history));
    }

    [Fact]
    public void A_late_day_has_no_move_of_its_own_and_the_moves_it_re_based_read_as_written()
    {
        var (d2, d3) = (D1.AddDays(1), D1.AddDays(2));
        // 08-10 written first (x1.01), a penalty to zero, then 08-09 late (x0.98): 08-10 re-based below zero, clamped.
        var history = AssetChangeHistory.Merge(1,
            [
                Recorded(AssetChangeKind.Opening, 0, 1_000_000, D1, 1, at: T.AddDays(-2)),
                Recorded(AssetChangeKind.Penalty, 1_010_000, 0, d3, 3, at: T.AddDays(-1)),
                Recorded(AssetChangeKind.Correction, 0, 20_200, d3, 3, "re-base would take 2025-08-10 below zero; clamped at 0"),
                Recorded(AssetChangeKind.Rebase, 20_200, 0, d3, 3, "market move of 2025-08-09 (x0.98) written after later days; re-based 1 day(s) 2025-08-10..2025-08-10"),
            ],
            [Move(2, d2, 1_000_000, -20_000), Move(3, d3, 980_000, 9_800)]);

        Assert.Equal(
            [
                (AssetChangeKind.Opening, 0L, 1_000_000L, D1), (AssetChangeKind.Market, 1_000_000L, 1_010_000L, d3),
                (AssetChangeKind.Penalty, 1_010_000L, 0L, d3), (AssetChangeKind.Correction, 0L, 20_200L, d3), (AssetChangeKind.Rebase, 20_200L, 0L, d3),
            ],
            Read(history));
    }

    [Fact]
    public void Without_recorded_changes_the_history_is_the_moves_in_day_order()
    {
        var history = AssetChangeHistory.Merge(1, [], [Move(2, D1, 100, 5), Move(3, D1.AddDays(1), 105, -5)]);

        Assert.Equal([(AssetChangeKind.Market, 100L, 105L, D1), (AssetChangeKind.Market, 105L, 100L, D1.AddDays(1))], Read(history));
    }

    [Theory]
    [InlineData("market move of 2025-08-09 (x0.98) written after later days; re-based 1 day(s) 2025-08-10..2025-08-10", "2025-08-09")]
    [InlineData("market move of 2025-13-09 (x0.98)", null)]
    [InlineData("weekly quiz", null)]
    [InlineData(null, null)]
    public void The_late_day_is_read_from_a_rebase_reason_only(string? reason, string? day) =>
        Assert.Equal(day is null ? null : DateOnly.Parse(day, System.Globalization.CultureInfo.InvariantCulture), AssetChainRebase.LateDayOf(reason));
}
