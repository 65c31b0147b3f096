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
                break;
        }
        return builder;
    }
}
