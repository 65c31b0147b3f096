using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Persistence;

public class DontGoBackDbContext(DbContextOptions options) : BatchEngineDbContext(options)
{
    public DbSet<User> Users => Set<User>();
    public DbSet<DailyAssetSnapshot> DailyAssetSnapshots => Set<DailyAssetSnapshot>();
    public DbSet<AssetChange> AssetChanges => Set<AssetChange>();
    public DbSet<AssetRefreshFailure> AssetRefreshFailures => Set<AssetRefreshFailure>();
    public DbSet<UserStatusChange> UserStatusChanges => Set<UserStatusChange>();
    public DbSet<Hosting.ConsoleSession> ConsoleSessions => Set<Hosting.ConsoleSession>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        modelBuilder.ApplyConfiguration(new Hosting.ConsoleSessionConfiguration());
        modelBuilder.Entity<User>(user =>
        {
            user.ToTable("users");
            user.Property(u => u.Status)
                .HasConversion(s => AccountStatusNames.ToStored(s), s => AccountStatusNames.FromStored(s))
                .HasMaxLength(20);
            // Keyset pages of active users walk this index.
            user.HasIndex(u => new { u.Status, u.Id });
            user.HasOne(u => u.CurrentSnapshot)
                .WithMany()
                .HasForeignKey(u => u.CurrentSnapshotId)
                .OnDelete(DeleteBehavior.Restrict);
        });

        modelBuilder.Entity<UserStatusChange>(change =>
        {
            change.ToTable("user_status_changes");
            change.Property(c => c.FromStatus)
                .HasConversion(s => AccountStatusNames.ToStored(s), s => AccountStatusNames.FromStored(s))
                .HasMaxLength(20);
            change.Property(c => c.ToStatus)
                .HasConversion(s => AccountStatusNames.ToStored(s), s => AccountStatusNames.FromStored(s))
                .HasMaxLength(20);
            change.Property(c => c.Reason).HasMaxLength(500);
            change.HasIndex(c => new { c.UserId, c.Id });
            change.HasOne<User>().WithMany().HasForeignKey(c => c.UserId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<DailyAssetSnapshot>(snapshot =>
        {
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
        });

        modelBuilder.Entity<AssetChange>(change =>
        {
            change.ToTable("asset_changes", t => t.HasCheckConstraint("ck_asset_changes_after_non_negative", "amount_after >= 0"));
            change.Property(c => c.Kind).HasConversion<string>().HasMaxLength(20);
            change.Property(c => c.Reason).HasMaxLength(500);
            change.Property(c => c.IdempotencyKey).HasMaxLength(200);
            change.HasIndex(c => new { c.UserId, c.IdempotencyKey }).IsUnique();
            change.HasIndex(c => new { c.UserId, c.SnapshotDay });
            change.HasOne<User>().WithMany().HasForeignKey(c => c.UserId).OnDelete(DeleteBehavior.Cascade);
            change.HasOne<DailyAssetSnapshot>().WithMany().HasForeignKey(c => c.SnapshotId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<AssetRefreshFailure>(failure =>
        {
            failure.ToTable("asset_refresh_failures");
            failure.HasKey(f => new { f.SnapshotDay, f.UserId });
            failure.Property(f => f.FailureClass).HasConversion<string>().HasMaxLength(20);
            failure.Property(f => f.Reason).HasMaxLength(500);
            // The console's search by class within a day of up to every user's failure, paged by user id.
            failure.HasIndex(f => new { f.SnapshotDay, f.FailureClass, f.UserId });
        });
    }
}

// One context type per provider so each keeps its own migrations.
public sealed class SqliteDontGoBackDbContext(DbContextOptions<SqliteDontGoBackDbContext> options) : DontGoBackDbContext(options);

public sealed class PostgresDontGoBackDbContext(DbContextOptions<PostgresDontGoBackDbContext> options) : DontGoBackDbContext(options);
