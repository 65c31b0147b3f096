using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Persistence;

public class DontGoBackDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<User> Users => Set<User>();
    public DbSet<AssetHistory> AssetHistory => Set<AssetHistory>();
    public DbSet<AssetRefreshFailure> AssetRefreshFailures => Set<AssetRefreshFailure>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<User>(user =>
        {
            user.ToTable("users");
            user.Property(u => u.Status)
                .HasConversion(s => AccountStatusNames.ToStored(s), s => AccountStatusNames.FromStored(s))
                .HasMaxLength(20);
            // Keyset pages of active users walk this index.
            user.HasIndex(u => new { u.Status, u.Id });
            user.HasOne(u => u.CurrentAssetHistory)
                .WithMany()
                .HasForeignKey(u => u.CurrentAssetHistoryId)
                .OnDelete(DeleteBehavior.Restrict);
        });

        modelBuilder.Entity<AssetHistory>(history =>
        {
            history.ToTable("asset_history", t => t.HasCheckConstraint("ck_asset_history_amount_non_negative", "amount >= 0"));
            // The last line of defence against two snapshots of one user for one day.
            history.HasIndex(h => new { h.UserId, h.SnapshotDay }).IsUnique();
            history.HasOne(h => h.User)
                .WithMany()
                .HasForeignKey(h => h.UserId)
                .OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<AssetRefreshFailure>(failure =>
        {
            failure.ToTable("asset_refresh_failures");
            failure.HasKey(f => new { f.SnapshotDay, f.UserId });
            failure.Property(f => f.FailureClass).HasConversion<string>().HasMaxLength(20);
            failure.Property(f => f.Reason).HasMaxLength(500);
        });
    }
}

// One context type per provider so each keeps its own migrations.
public sealed class SqliteDontGoBackDbContext(DbContextOptions<SqliteDontGoBackDbContext> options) : DontGoBackDbContext(options);

public sealed class PostgresDontGoBackDbContext(DbContextOptions<PostgresDontGoBackDbContext> options) : DontGoBackDbContext(options);
