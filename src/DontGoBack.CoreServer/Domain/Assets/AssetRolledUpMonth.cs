using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// A calendar month whose daily snapshots were rolled up, recorded in the roll-up's own transaction. From then on the
/// month takes no write (a late day, an adjustment, a re-base), and the graph and <c>verify</c> read it from its roll-ups.
/// </summary>
public sealed class AssetRolledUpMonth
{
    /// <summary>The month's first calendar day.</summary>
    public DateOnly Month { get; set; }

    /// <summary>Roll-up rows written for it (users with a snapshot in the month).</summary>
    public long Users { get; set; }

    public DateTimeOffset RolledUpAt { get; set; }

    /// <summary>When its last daily rows (but the users' current snapshots) were deleted; null while some are left, e.g. after a crash.</summary>
    public DateTimeOffset? DailyRowsDeletedAt { get; set; }
}

public sealed class AssetRolledUpMonthConfiguration : IEntityTypeConfiguration<AssetRolledUpMonth>
{
    public void Configure(EntityTypeBuilder<AssetRolledUpMonth> month)
    {
        month.ToTable("asset_rolled_up_months");
        month.HasKey(m => m.Month);
    }
}
