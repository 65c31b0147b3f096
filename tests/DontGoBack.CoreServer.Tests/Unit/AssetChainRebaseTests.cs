using DontGoBack.CoreServer.Domain.Assets;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class AssetChainRebaseTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    [Fact]
    public void Later_days_open_at_the_new_closing_before_them_and_keep_their_multipliers_and_net_flows()
    {
        var plan = AssetChainRebase.Plan(7, Day, 1.01, 1_010_000,
        [
            new(11, Day.AddDays(1), 1_000_000, 1_020_000, 1.02, 0),
            new(12, Day.AddDays(3), 1_020_000, 1_019_800, 0.98, 20_200),
        ])!;

        Assert.Equal(
            [new RebasedSnapshot(11, 1_010_000, 20_200, 0, 1_030_200), new RebasedSnapshot(12, 1_030_200, -20_604, 20_200, 1_029_796)],
            plan.Snapshots);
        var rebase = Assert.Single(plan.Changes);
        Assert.Equal((AssetChangeKind.Rebase, 1_019_800L, 1_029_796L, 12L, Day.AddDays(3)),
            (rebase.Kind, rebase.Before, rebase.After, rebase.SnapshotId, rebase.SnapshotDay));
        Assert.Contains("2025-08-10 (x1.01)", rebase.Reason);
        Assert.Contains("2 day(s) 2025-08-11..2025-08-13", rebase.Reason);
    }

    [Fact]
    public void A_day_that_would_go_below_zero_is_clamped_by_a_correction_recorded_before_the_rebase()
    {
        // The penalty took the whole 1,000,000 on the old base; on the lower new base it would overdraw by 100,000.
        var plan = AssetChainRebase.Plan(7, Day, 0.9, 900_000,
        [
            new(11, Day.AddDays(1), 1_000_000, 0, 1.0, -1_000_000),
            new(12, Day.AddDays(2), 0, 0, 1.05, 0),
        ])!;

        Assert.Equal(
            [new RebasedSnapshot(11, 900_000, 0, -900_000, 0), new RebasedSnapshot(12, 0, 0, 0, 0)],
            plan.Snapshots);
        Assert.Equal(
            [(AssetChangeKind.Correction, 0L, 100_000L, 11L), (AssetChangeKind.Rebase, 100_000L, 0L, 12L)],
            plan.Changes.Select(c => (c.Kind, c.Before, c.After, c.SnapshotId)));
        Assert.All(plan.Changes, c => Assert.True(c.After >= 0));
    }

    [Fact]
    public void A_snapshot_without_a_market_move_takes_the_closing_before_it_unchanged()
    {
        var plan = AssetChainRebase.Plan(7, Day, 1.0, 500, [new(11, Day.AddDays(1), 10_000_000, 10_000_000, null, 0)])!;

        Assert.Equal(new RebasedSnapshot(11, 500, 0, 0, 500), Assert.Single(plan.Snapshots));
    }

    [Fact]
    public void A_re_base_past_the_largest_amount_is_refused()
    {
        Assert.Null(AssetChainRebase.Plan(7, Day, 1.05, long.MaxValue / 2, [new(11, Day.AddDays(1), 1, 1, 2.5, 0)]));
        Assert.Null(AssetChainRebase.Plan(7, Day, 1.0, long.MaxValue - 10, [new(11, Day.AddDays(1), 1, 1, 1.0, 100)]));
    }
}
