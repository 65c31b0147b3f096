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
    public DbSet<AssetMonthRollup> AssetMonthRollups => Set<AssetMonthRollup>();
    public DbSet<AssetRolledUpMonth> AssetRolledUpMonths => Set<AssetRolledUpMonth>();
    public DbSet<UserStatusChange> UserStatusChanges => Set<UserStatusChange>();
    public DbSet<Hosting.ConsoleSession> ConsoleSessions => Set<Hosting.ConsoleSession>();

    /// <summary>The history's keys hold the snapshot day, as PostgreSQL's monthly partitions need (<see cref="HistoryPartitions"/>).</summary>
    protected virtual bool HistoryKeyedByDay => false;

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        modelBuilder.ApplyConfiguration(new Hosting.ConsoleSessionConfiguration());
        // The domain's entities, each configured beside it.
        modelBuilder.ApplyConfiguration(new UserConfiguration(HistoryKeyedByDay));
        modelBuilder.ApplyConfiguration(new UserStatusChangeConfiguration());
        modelBuilder.ApplyConfiguration(new DailyAssetSnapshotConfiguration(HistoryKeyedByDay));
        modelBuilder.ApplyConfiguration(new AssetChangeConfiguration(HistoryKeyedByDay));
        modelBuilder.ApplyConfiguration(new AssetRefreshFailureConfiguration());
        modelBuilder.ApplyConfiguration(new AssetMonthRollupConfiguration());
        modelBuilder.ApplyConfiguration(new AssetRolledUpMonthConfiguration());
    }
}

// One context type per provider so each keeps its own migrations.
public sealed class SqliteDontGoBackDbContext(DbContextOptions<SqliteDontGoBackDbContext> options) : DontGoBackDbContext(options);

public sealed class PostgresDontGoBackDbContext(DbContextOptions<PostgresDontGoBackDbContext> options) : DontGoBackDbContext(options)
{
    protected override bool HistoryKeyedByDay => true;
}
