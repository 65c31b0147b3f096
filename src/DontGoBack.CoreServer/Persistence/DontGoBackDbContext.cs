using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Persistence;

public class DontGoBackDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<User> Users => Set<User>();
    public DbSet<DailyAssetSnapshot> DailyAssetSnapshots => Set<DailyAssetSnapshot>();
    public DbSet<AssetChange> AssetChanges => Set<AssetChange>();
    public DbSet<AssetRefreshFailure> AssetRefreshFailures => Set<AssetRefreshFailure>();
    public DbSet<BatchRun> BatchRuns => Set<BatchRun>();
    public DbSet<BatchRunPartition> BatchRunPartitions => Set<BatchRunPartition>();
    public DbSet<BatchRunAttempt> BatchRunAttempts => Set<BatchRunAttempt>();
    public DbSet<UserStatusChange> UserStatusChanges => Set<UserStatusChange>();
    public DbSet<DeadlineAlert> DeadlineAlerts => Set<DeadlineAlert>();
    public DbSet<OperatorAction> OperatorActions => Set<OperatorAction>();
    public DbSet<SchedulePause> SchedulePauses => Set<SchedulePause>();
    public DbSet<Hosting.ConsoleSession> ConsoleSessions => Set<Hosting.ConsoleSession>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfiguration(new Hosting.ConsoleSessionConfiguration());
        // The domain's entities, each configured beside it.
        modelBuilder.ApplyConfiguration(new UserConfiguration());
        modelBuilder.ApplyConfiguration(new UserStatusChangeConfiguration());
        modelBuilder.ApplyConfiguration(new DailyAssetSnapshotConfiguration());
        modelBuilder.ApplyConfiguration(new AssetChangeConfiguration());
        modelBuilder.ApplyConfiguration(new AssetRefreshFailureConfiguration());

        modelBuilder.Entity<BatchRun>(run =>
        {
            run.ToTable("batch_runs");
            run.Property(r => r.JobName).HasMaxLength(50);
            run.Property(r => r.Status).HasConversion<string>().HasMaxLength(30);
            run.Property(r => r.LeaseOwner).HasMaxLength(32);
            run.Property(r => r.Nodes).HasMaxLength(2000);
            run.Property(r => r.Error).HasMaxLength(2000);
            run.Property(r => r.CancelReason).HasMaxLength(500);
            // A day is one job instance.
            run.HasIndex(r => new { r.JobName, r.Day }).IsUnique();
            // The console lists every job's runs newest first: ten years of days without a sort of them all.
            run.HasIndex(r => r.Day);
        });

        modelBuilder.Entity<BatchRunPartition>(partition =>
        {
            partition.ToTable("batch_run_partitions");
            partition.HasKey(p => new { p.RunId, p.PartitionNo });
            partition.Property(p => p.Status).HasConversion<string>().HasMaxLength(20);
            partition.Property(p => p.Node).HasMaxLength(200);
            partition.Property(p => p.Error).HasMaxLength(2000);
            partition.HasOne<BatchRun>().WithMany().HasForeignKey(p => p.RunId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<BatchRunAttempt>(attempt =>
        {
            attempt.ToTable("batch_run_attempts");
            attempt.HasKey(a => new { a.RunId, a.Attempt });
            attempt.Property(a => a.Status).HasConversion<string>().HasMaxLength(30);
            attempt.Property(a => a.Error).HasMaxLength(2000);
            attempt.Property(a => a.Node).HasMaxLength(200);
            attempt.HasOne<BatchRun>().WithMany().HasForeignKey(a => a.RunId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<DeadlineAlert>(alert =>
        {
            alert.ToTable("batch_alerts");
            alert.Property(a => a.JobName).HasMaxLength(50);
            alert.Property(a => a.Condition).HasConversion<string>().HasMaxLength(30);
            alert.Property(a => a.Kind).HasConversion<string>().HasMaxLength(20);
            alert.Property(a => a.Delivery).HasConversion<string>().HasMaxLength(20);
            alert.Property(a => a.Node).HasMaxLength(200);
            alert.Property(a => a.Payload).HasMaxLength(8000);
            alert.Property(a => a.LastError).HasMaxLength(2000);
            // Each message once, whichever node finds the condition first.
            alert.HasIndex(a => new { a.JobName, a.Day, a.Condition, a.Kind }).IsUnique();
            alert.HasIndex(a => new { a.Delivery, a.NextAttemptAt });
        });

        modelBuilder.Entity<OperatorAction>(action =>
        {
            action.ToTable("operator_actions");
            action.Property(a => a.Action).HasConversion<string>().HasMaxLength(20);
            action.Property(a => a.Outcome).HasConversion<string>().HasMaxLength(20);
            action.Property(a => a.JobName).HasMaxLength(50);
            action.Property(a => a.Address).HasMaxLength(64);
            action.Property(a => a.TokenName).HasMaxLength(100);
            action.Property(a => a.Reason).HasMaxLength(500);
            action.Property(a => a.Detail).HasMaxLength(2000);
            // Pages newest first (ids grow with time), all of them by the key or one job's by this.
            action.HasIndex(a => new { a.JobName, a.Id });
        });

        modelBuilder.Entity<SchedulePause>(pause =>
        {
            pause.ToTable("batch_schedule_pauses");
            pause.HasKey(p => p.JobName);
            pause.Property(p => p.JobName).HasMaxLength(50);
            pause.Property(p => p.Reason).HasMaxLength(500);
            pause.Property(p => p.Address).HasMaxLength(64);
            pause.Property(p => p.TokenName).HasMaxLength(100);
        });
    }
}

// One context type per provider so each keeps its own migrations.
public sealed class SqliteDontGoBackDbContext(DbContextOptions<SqliteDontGoBackDbContext> options) : DontGoBackDbContext(options);

public sealed class PostgresDontGoBackDbContext(DbContextOptions<PostgresDontGoBackDbContext> options) : DontGoBackDbContext(options);
