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
        builder.Services.AddSingleton<DatabaseRetry>();
        builder.Services.AddSingleton<DatabaseMigration>();

        // The provider decides which services exist, so it is read while registering.
        var provider = builder.Configuration.GetSection(DatabaseOptions.SectionName).Get<DatabaseOptions>()?.Provider
            ?? DatabaseProvider.Sqlite;
        var connectionString = builder.Configuration.GetConnectionString(DatabaseOptions.ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new OptionsValidationException(DatabaseOptions.ConnectionStringName, typeof(DatabaseOptions),
                [$"ConnectionStrings:{DatabaseOptions.ConnectionStringName} is required."]);

        switch (provider)
        {
            case DatabaseProvider.Sqlite:
                builder.Services.AddSingleton(new SqliteDatabase(connectionString));
                builder.Services.AddDbContext<DontGoBackDbContext, SqliteDontGoBackDbContext>(options =>
                    options.UseSqlite(connectionString).UseSnakeCaseNamingConvention().ConfigureWarnings(SqliteDatabase.KnownMigrationWarnings));
                break;
            case DatabaseProvider.Postgres:
                // Named, so metrics and traces label the pool with this rather than the connection string.
                builder.Services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connectionString) { Name = "dontgoback" }.Build());
                builder.Services.AddDbContext<DontGoBackDbContext, PostgresDontGoBackDbContext>((services, options) =>
                    options.UseNpgsql(services.GetRequiredService<NpgsqlDataSource>()).UseSnakeCaseNamingConvention());
                builder.Services.AddKeyedSingleton(DatabaseOptions.PublicReadPool, (services, _) =>
                    PublicReadDataSource(connectionString, services.GetRequiredService<IOptions<DatabaseOptions>>().Value.PublicReadPoolSize));
                break;
        }
        return builder;
    }

    /// <summary>
    /// The pool of the public profile reads: each use is one prepared SELECT outside a transaction
    /// that leaves nothing behind in the session (no SET, LISTEN, lock or temporary table), so the
    /// reset Npgsql otherwise sends on every reuse (RESET ALL, UNLISTEN, pg_advisory_unlock_all and
    /// more, since prepared statements rule out DISCARD ALL) is pure cost: without it the same
    /// machine served 22% more cache misses (see the README's read path). A pool of its own keeps
    /// that setting away from every other connection, bounds what a burst of profile reads takes
    /// from PostgreSQL, and names its sessions in <c>pg_stat_activity</c>.
    /// </summary>
    private static NpgsqlDataSource PublicReadDataSource(string connectionString, int poolSize)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString) { Name = "dontgoback-public-reads" };
        builder.ConnectionStringBuilder.NoResetOnClose = true;
        builder.ConnectionStringBuilder.MaxPoolSize = poolSize;
        builder.ConnectionStringBuilder.MinPoolSize = Math.Min(builder.ConnectionStringBuilder.MinPoolSize, poolSize);
        if (string.IsNullOrEmpty(builder.ConnectionStringBuilder.ApplicationName))
            builder.ConnectionStringBuilder.ApplicationName = PublicReadApplicationName;
        return builder.Build();
    }

    /// <summary>The public reads' sessions in <c>pg_stat_activity</c>, unless the connection string names the application.</summary>
    public const string PublicReadApplicationName = "dontgoback-public-reads";
}
