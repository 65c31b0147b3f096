using DontGoBack.CoreServer.Domain.Users;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// One user's month of daily snapshots, rolled up before the daily rows go (see <see cref="AssetHistoryLifecycle"/>):
/// what the month read as from its days, so the profile graph's month point and the chain across the boundary stay as they were.
/// </summary>
public sealed class AssetMonthRollup
{
    public long UserId { get; set; }

    /// <summary>The month's first calendar day.</summary>
    public DateOnly Month { get; set; }

    /// <summary>The first day of the month that had a snapshot.</summary>
    public DateOnly FirstDay { get; set; }

    /// <summary>The last day of the month that had a snapshot.</summary>
    public DateOnly LastDay { get; set; }

    /// <summary>Days with a snapshot.</summary>
    public int Days { get; set; }

    /// <summary>The first snapshot's opening, whole KRW.</summary>
    public long OpeningAmount { get; set; }

    /// <summary>The last snapshot's closing, whole KRW.</summary>
    public long ClosingAmount { get; set; }

    /// <summary>Sum of the days' net flows (rewards minus penalties and corrections).</summary>
    public long NetFlow { get; set; }

    /// <summary>
    /// Product of the days' multipliers in day order, a missing one counting as 1.0, unrounded: the month's colour
    /// is decided on it and the graph shows it rounded, exactly as from the daily rows.
    /// </summary>
    public double MarketMultiplier { get; set; }
}

public sealed class AssetMonthRollupConfiguration : IEntityTypeConfiguration<AssetMonthRollup>
{
    public void Configure(EntityTypeBuilder<AssetMonthRollup> rollup)
    {
        rollup.ToTable("asset_month_rollups", t =>
        {
            t.HasCheckConstraint("ck_asset_month_rollups_closing_non_negative", "closing_amount >= 0");
            t.HasCheckConstraint("ck_asset_month_rollups_opening_non_negative", "opening_amount >= 0");
        });
        rollup.HasKey(r => new { r.UserId, r.Month });
        rollup.HasOne<User>().WithMany().HasForeignKey(r => r.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
