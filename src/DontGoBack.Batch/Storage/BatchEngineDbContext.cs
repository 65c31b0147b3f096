using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.Batch.Storage;

/// <summary>
/// The engine's tables, in the application's one database: the application's context derives from
/// this one (and calls <see cref="OnModelCreating"/>), so its migrations carry the engine's tables
/// beside its own, and the engine asks for this type wherever it reads or writes them.
/// </summary>
public abstract class BatchEngineDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<BatchRun> BatchRuns => Set<BatchRun>();
    public DbSet<BatchRunPartition> BatchRunPartitions => Set<BatchRunPartition>();
    public DbSet<BatchRunAttempt> BatchRunAttempts => Set<BatchRunAttempt>();
    public DbSet<DeadlineAlert> DeadlineAlerts => Set<DeadlineAlert>();
    public DbSet<OperatorAction> OperatorActions => Set<OperatorAction>();
    public DbSet<SchedulePause> SchedulePauses => Set<SchedulePause>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfiguration(new BatchRunConfiguration());
        modelBuilder.ApplyConfiguration(new BatchRunPartitionConfiguration());
        modelBuilder.ApplyConfiguration(new BatchRunAttemptConfiguration());
        modelBuilder.ApplyConfiguration(new DeadlineAlertConfiguration());
        modelBuilder.ApplyConfiguration(new OperatorActionConfiguration());
        modelBuilder.ApplyConfiguration(new SchedulePauseConfiguration());
    }
}
