using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// A calendar month rolled up into one row per user (<see cref="AssetMonthRollup"/>). A month is rolled up as soon as it
/// closes, oldest first, while its daily rows stay: from the moment this row exists every write into the month (a late
/// day, an adjustment, a re-base) writes the users' roll-ups again in its own transaction
/// (<see cref="AssetMonthRollups.RollUpAgainAsync"/>), so a roll-up always says what its days say and the graph reads the
/// month from it. When the month leaves the daily history it is sealed: from then on it takes no write
/// (<see cref="RolledUpMonths"/>) and its daily rows go.
/// </summary>
public sealed class AssetRolledUpMonth
{
    /// <summary>The month's first calendar day.</summary>
    public DateOnly Month { get; set; }

    /// <summary>Roll-up rows written for it by the roll-up itself (users with a snapshot in the month then).</summary>
    public long Users { get; set; }

    /// <summary>When the month's roll-ups were all written; null while the roll-up is under way (writers already keep theirs current).</summary>
    public DateTimeOffset? RolledUpAt { get; set; }

    /// <summary>When the month left the daily history and stopped taking writes; null while it is kept daily.</summary>
    public DateTimeOffset? SealedAt { get; set; }

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
