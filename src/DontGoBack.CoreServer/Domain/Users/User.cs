using DontGoBack.CoreServer.Domain.Assets;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.CoreServer.Domain.Users;

public sealed class User
{
    public long Id { get; set; }
    public AccountStatus Status { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The day the account opened, in the batch zone: no snapshot may be for an earlier day.</summary>
    public DateOnly OpeningDay { get; set; }

    /// <summary>When the user was last active (POST /internal/users/{id}/activity); null: never since the account opened (see <see cref="OpeningDay"/>). Dormancy counts from the later of the two.</summary>
    public DateTimeOffset? LastActivityAt { get; set; }

    /// <summary>The user's snapshot with the greatest day; never moved back by a back-fill.</summary>
    public long? CurrentSnapshotId { get; set; }

    /// <summary>
    /// The day of <see cref="CurrentSnapshotId"/>: on PostgreSQL's monthly partitions a snapshot's key is (id, day), so the
    /// pointer is both (<see cref="HistoryPartitions"/>); every writer of the pointer writes the two together.
    /// </summary>
    public DateOnly? CurrentSnapshotDay { get; set; }

    public DailyAssetSnapshot? CurrentSnapshot { get; set; }

    /// <summary>Puts the pointer on <paramref name="snapshot"/> (null: no snapshot), both of its columns.</summary>
    public void PointAt(DailyAssetSnapshot? snapshot)
    {
        CurrentSnapshot = snapshot;
        CurrentSnapshotId = snapshot?.Id;
        CurrentSnapshotDay = snapshot?.SnapshotDay;
    }
}

/// <param name="historyKeyedByDay">The snapshots' key is (id, snapshot_day), as PostgreSQL's partitions need (<see cref="HistoryPartitions"/>).</param>
public sealed class UserConfiguration(bool historyKeyedByDay = false) : IEntityTypeConfiguration<User>
{
    public const string PointerWholeConstraint = "ck_users_current_snapshot_whole";

    public void Configure(EntityTypeBuilder<User> user)
    {
        // The pointer's two columns are set and cleared together: a day without an id (or an id without its day) would
        // read as "refreshed" to one statement and "never refreshed" to another.
        user.ToTable("users", table => table.HasCheckConstraint(PointerWholeConstraint,
            "(current_snapshot_id IS NULL) = (current_snapshot_day IS NULL)"));
        user.Property(u => u.Status)
            .HasConversion(s => AccountStatusNames.ToStored(s), s => AccountStatusNames.FromStored(s))
            .HasMaxLength(20);
        // Keyset pages of active users walk this index.
        user.HasIndex(u => new { u.Status, u.Id });
        var pointer = user.HasOne(u => u.CurrentSnapshot).WithMany();
        (historyKeyedByDay
                ? pointer.HasForeignKey(u => new { u.CurrentSnapshotId, u.CurrentSnapshotDay })
                : pointer.HasForeignKey(u => u.CurrentSnapshotId))
            .OnDelete(DeleteBehavior.Restrict);
    }
}
