using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DontGoBack.CoreServer.Persistence;

public static class PersistenceExtensions
{
    public static IHostApplicationBuilder AddPersistence(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<DatabaseOptions>()
            .BindConfiguration(DatabaseOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<DatabaseWriteRefusals>();
        builder.Services.AddSingleton<DatabaseRetry>();
        builder.Services.AddSingleton<DatabaseMigration>();

        // The provider decides which services exist, so it is read while registering.
        var provider = DatabaseOptions.ProviderIn(builder.Configuration);
        var connectionString = builder.Configuration.GetConnectionString(DatabaseOptions.ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new OptionsValidationException(DatabaseOptions.ConnectionStringName, typeof(DatabaseOptions),
                [$"ConnectionStrings:{DatabaseOptions.ConnectionStringName} is required."]);

        switch (provider)
        {
            case DatabaseProvider.Sqlite:
                var sqlite = new SqliteDatabase(connectionString);
                builder.Services.AddSingleton(sqlite);
                if (sqlite.FullPath is { } file)
                {
                    builder.Services.AddSingleton(services => new StorageReserve(StorageReserve.PathBeside(file),
                        services.GetRequiredService<IOptions<DatabaseOptions>>().Value.SqliteStorageReserveBytes,
                        services.GetRequiredService<ILogger<StorageReserve>>()));
                }
                builder.Services.AddContexts<SqliteDontGoBackDbContext>((_, options) =>
                    options.UseSqlite(connectionString).UseSnakeCaseNamingConvention().ConfigureWarnings(SqliteDatabase.KnownMigrationWarnings));
                break;
            case DatabaseProvider.Postgres:
                builder.Services.AddSingleton(services => new PostgresDatabase(connectionString, services.GetRequiredService<ILogger<PostgresDatabase>>()));
                // Named, so metrics and traces label the pool with this rather than the connection string.
                builder.Services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connectionString) { Name = "dontgoback" }.Build());
                builder.Services.AddContexts<PostgresDontGoBackDbContext>((services, options) =>
                    options.UseNpgsql(services.GetRequiredService<NpgsqlDataSource>()).UseSnakeCaseNamingConvention());
                builder.Services.AddKeyedSingleton(DatabaseOptions.PublicReadPool, (services, _) =>
                    PublicReadDataSource(connectionString, services.GetRequiredService<IOptions<DatabaseOptions>>().Value.PublicReadPoolSize));
                break;
        }
        return builder;
    }

    /// <summary>
    /// The provider's context as <see cref="DontGoBackDbContext"/>: one per scope, as a request or a
    /// job uses it, and a factory of contexts that share nothing with any scope, each with a
    /// connection of its own (the batch engine's bookkeeping runs beside a job's work on them).
    /// </summary>
    private static void AddContexts<TContext>(this IServiceCollection services, Action<IServiceProvider, DbContextOptionsBuilder> configure)
        where TContext : DontGoBackDbContext
    {
        // Registers TContext per scope as well.
        services.AddDbContextFactory<TContext>(configure);
        services.AddScoped<DontGoBackDbContext>(scoped => scoped.GetRequiredService<TContext>());
        services.AddSingleton<IDbContextFactory<DontGoBackDbContext>>(provider =>
            new OwnContexts<TContext, DontGoBackDbContext>(provider.GetRequiredService<IDbContextFactory<TContext>>()));
        // The engine asks for its own part of the context: the same one, seen as the engine's.
        services.AddScoped<BatchEngineDbContext>(scoped => scoped.GetRequiredService<TContext>());
        services.AddSingleton<IDbContextFactory<BatchEngineDbContext>>(provider =>
            new OwnContexts<TContext, BatchEngineDbContext>(provider.GetRequiredService<IDbContextFactory<TContext>>()));
    }

    private sealed class OwnContexts<TContext, TSeen>(IDbContextFactory<TContext> contexts) : IDbContextFactory<TSeen>
        where TContext : TSeen
        where TSeen : DbContext
    {
        public TSeen CreateDbContext() => contexts.CreateDbContext();

        public async Task<TSeen> CreateDbContextAsync(CancellationToken cancellationToken = default) =>
            await contexts.CreateDbContextAsync(cancellationToken);
    }

    /// <summary>
    /// The pool of the public profile reads: each use is one SELECT outside a transaction that
    /// leaves nothing behind in the session, so the reads are multiplexed: the commands of all
    /// concurrent requests are pipelined over a few physical connections (at most
    /// <c>poolSize</c>), each statement prepared on a connection the first time it runs there.
    /// Against one connection per request (32 of them, prepared explicitly, not reset), the same
    /// server answered 1.1–1.8× the cache misses on 2 cores, the most where many requests wait at
    /// once: one socket write carries many statements (8 connections without multiplexing did no
    /// better than 32; see the README's read path). Explicit preparation is not available with
    /// multiplexing, hence automatic preparation. Nor does a cancelled request stop its statement
    /// once sent: it runs to its end (a fraction of a millisecond), since PostgreSQL's cancellation
    /// would hit whichever statement the shared session runs then. A pool of its
    /// own keeps this away from every other connection (which run transactions), bounds what a
    /// burst of profile reads takes from PostgreSQL, and names its sessions in <c>pg_stat_activity</c>.
    /// </summary>
    private static NpgsqlDataSource PublicReadDataSource(string connectionString, int poolSize)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString) { Name = "dontgoback-public-reads" };
        builder.ConnectionStringBuilder.Multiplexing = true;
        builder.ConnectionStringBuilder.MaxAutoPrepare = PublicReadStatements;
        builder.ConnectionStringBuilder.AutoPrepareMinUsages = 1;
        builder.ConnectionStringBuilder.MaxPoolSize = poolSize;
        builder.ConnectionStringBuilder.MinPoolSize = Math.Min(builder.ConnectionStringBuilder.MinPoolSize, poolSize);
        if (string.IsNullOrEmpty(builder.ConnectionStringBuilder.ApplicationName))
            builder.ConnectionStringBuilder.ApplicationName = PublicReadApplicationName;
        return builder.Build();
    }

    /// <summary>
    /// The statements the public reads run (a day series, a week series and a month series over the roll-ups), each kept
    /// prepared per connection. One fewer than they run makes the statements evict each other, which multiplexing does not survive.
    /// </summary>
    private const int PublicReadStatements = 3;

    /// <summary>The public reads' sessions in <c>pg_stat_activity</c>, unless the connection string names the application.</summary>
    public const string PublicReadApplicationName = "dontgoback-public-reads";
}
