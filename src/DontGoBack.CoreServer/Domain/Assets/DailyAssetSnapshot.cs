using DontGoBack.CoreServer.Domain.Users;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// One user's asset for one day, unique per (user, day). The day's market move takes the
/// opening amount (the closing of the snapshot before) to opening × multiplier; rewards and
/// penalties until the next day's move add to the net flow. Closing = opening + market delta + net flow.
/// </summary>
public sealed class DailyAssetSnapshot
{
    public long Id { get; set; }
    public long UserId { get; set; }
    public User? User { get; set; }
    public DateOnly SnapshotDay { get; set; }

    /// <summary>Whole KRW before the day's market move.</summary>
    public long OpeningAmount { get; set; }

    /// <summary>Whole KRW now: after the market move and the day's net flow; never negative.</summary>
    public long ClosingAmount { get; set; }

    /// <summary>The extension's multiplier; null for an opening snapshot that had no market move.</summary>
    public double? MarketMultiplier { get; set; }

    public long MarketDelta { get; set; }

    /// <summary>Sum of the rewards and penalties recorded on this snapshot.</summary>
    public long NetFlow { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <param name="keyedByDay">The key is (id, snapshot_day), as PostgreSQL's monthly partitions need (<see cref="HistoryPartitions"/>).</param>
public sealed class DailyAssetSnapshotConfiguration(bool keyedByDay = false) : IEntityTypeConfiguration<DailyAssetSnapshot>
{
    public void Configure(EntityTypeBuilder<DailyAssetSnapshot> snapshot)
    {
        if (keyedByDay)
        {
            // A partitioned table's keys must hold its partition key; the id alone stays unique by its identity.
            snapshot.HasKey(s => new { s.Id, s.SnapshotDay });
            snapshot.Property(s => s.Id).UseIdentityByDefaultColumn();
        }
        snapshot.ToTable("daily_asset_snapshots", t =>
        {
            t.HasCheckConstraint("ck_daily_asset_snapshots_closing_non_negative", "closing_amount >= 0");
            t.HasCheckConstraint("ck_daily_asset_snapshots_opening_non_negative", "opening_amount >= 0");
        });
        // The last line of defence against two snapshots of one user for one day.
        snapshot.HasIndex(s => new { s.UserId, s.SnapshotDay }).IsUnique();
        snapshot.HasOne(s => s.User)
            .WithMany()
            .HasForeignKey(s => s.UserId)
            .OnDelete(DeleteBehavior.Cascade);
    }
}
