using System.Text.Json.Serialization;
using DontGoBack.CoreServer.Domain.Users;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>One change of a user's asset: the daily market move, a reward, a penalty or a correction.</summary>
public sealed class AssetChange
{
    public long Id { get; set; }
    public long UserId { get; set; }
    public AssetChangeKind Kind { get; set; }
    public long AmountBefore { get; set; }
    public long AmountAfter { get; set; }
    public long Delta { get; set; }
    public string? Reason { get; set; }

    /// <summary>Caller's key for an adjustment; (user, key) is unique, so a retried request applies once.</summary>
    public string? IdempotencyKey { get; set; }

    /// <summary>The snapshot the change landed on.</summary>
    public long SnapshotId { get; set; }
    public DateOnly SnapshotDay { get; set; }
    public DateTimeOffset ChangedAt { get; set; }
}

/// <param name="historyKeyedByDay">The snapshots' key is (id, snapshot_day), as PostgreSQL's monthly partitions need (<see cref="HistoryPartitions"/>).</param>
public sealed class AssetChangeConfiguration(bool historyKeyedByDay = false) : IEntityTypeConfiguration<AssetChange>
{
    public void Configure(EntityTypeBuilder<AssetChange> change)
    {
        change.ToTable("asset_changes", t => t.HasCheckConstraint("ck_asset_changes_after_non_negative", "amount_after >= 0"));
        if (historyKeyedByDay)
        {
            // Partitioned by month of snapshot_day with the snapshots: the key holds the partition key.
            change.HasKey(c => new { c.Id, c.SnapshotDay });
            change.Property(c => c.Id).UseIdentityByDefaultColumn();
        }
        change.Property(c => c.Kind).HasConversion<string>().HasMaxLength(20);
        change.Property(c => c.Reason).HasMaxLength(500);
        change.Property(c => c.IdempotencyKey).HasMaxLength(200);
        // A unique index on a table partitioned by day would have to hold the day, and a key is per user, not per day: on
        // PostgreSQL the key is looked up under the user's row lock the adjustment takes (AssetAdjustments), which keeps it once.
        change.HasIndex(c => new { c.UserId, c.IdempotencyKey }).IsUnique(!historyKeyedByDay);
        change.HasIndex(c => new { c.UserId, c.SnapshotDay });
        change.HasOne<User>().WithMany().HasForeignKey(c => c.UserId).OnDelete(DeleteBehavior.Cascade);
        var landedOn = change.HasOne<DailyAssetSnapshot>().WithMany();
        (historyKeyedByDay ? landedOn.HasForeignKey(c => new { c.SnapshotId, c.SnapshotDay }) : landedOn.HasForeignKey(c => c.SnapshotId))
            .OnDelete(DeleteBehavior.Cascade);
    }
}

[JsonConverter(typeof(JsonStringEnumConverter<AssetChangeKind>))]
public enum AssetChangeKind
{
    /// <summary>The first amount a user was given.</summary>
    [JsonStringEnumMemberName("opening")] Opening,
    [JsonStringEnumMemberName("market")] Market,
    [JsonStringEnumMemberName("reward")] Reward,
    [JsonStringEnumMemberName("penalty")] Penalty,
    [JsonStringEnumMemberName("correction")] Correction,

    /// <summary>
    /// A day written behind later ones moved the later days' amounts (their stored multipliers and
    /// net flows re-applied from the new base): the balance before and after, and why.
    /// </summary>
    [JsonStringEnumMemberName("rebase")] Rebase,
}
