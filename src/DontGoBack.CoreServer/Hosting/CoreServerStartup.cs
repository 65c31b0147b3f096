using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.InterServer.Extension;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>What must hold before the server or a CLI command does any work.</summary>
public static partial class CoreServerStartup
{
    /// <summary>
    /// Where appsettings.json is read from: beside the app's own files, wherever the process is
    /// started from (`dotnet run`, the built dll, a service manager), unless `--contentRoot` or
    /// ASPNETCORE_CONTENTROOT / DOTNET_CONTENTROOT names another folder. The working directory
    /// then means one thing only: where a relative SQLite path such as data/dontgoback.db lands.
    /// </summary>
    public static string ContentRoot(string[] args)
    {
        var explicitRoot = new ConfigurationBuilder()
            .AddEnvironmentVariables("DOTNET_")
            .AddEnvironmentVariables("ASPNETCORE_")
            .AddCommandLine(args)
            .Build()[WebHostDefaults.ContentRootKey];
        return string.IsNullOrEmpty(explicitRoot) ? AppContext.BaseDirectory : Path.GetFullPath(explicitRoot);
    }

    /// <param name="demoOpeningDay">Day of the demo users' opening snapshot when the database is seeded; default yesterday.</param>
    public static async Task PrepareAsync(
        IServiceProvider services, bool seedEmptyDatabase, CancellationToken cancellationToken, DateOnly? demoOpeningDay = null)
    {
        // Bad settings fail here, naming the setting, before anything touches the database.
        services.GetService<IStartupValidator>()?.Validate();
        // The jobs' zones agree, or this says which settings differ.
        services.GetRequiredService<BatchCalendar>();
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(CoreServerStartup));

        var database = services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
        if (services.GetService<SqliteDatabase>()?.FullPath is { } file)
            LogSqliteFile(logger, file);
        else
            LogDatabase(logger, database.Provider);
        await services.MigrateDatabaseAsync(cancellationToken);

        var extension = services.GetRequiredService<IOptions<ExtensionOptions>>().Value;
        if (extension.UsesInProcessStandIn)
            LogInProcessStandIn(logger);
        else
            LogRemoteExtension(logger, extension.BaseUrl!);

        var demo = services.GetRequiredService<IOptions<DemoDataOptions>>().Value;
        if (seedEmptyDatabase && demo.UsersOnEmptyDatabase > 0)
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
            if (!await db.Users.AnyAsync(cancellationToken))
            {
                var added = await AddDemoUsersAsync(
                    scope.ServiceProvider, demo.UsersOnEmptyDatabase, demo.ActivePercent, cancellationToken, demoOpeningDay);
                LogSeeded(logger, added.LastId - added.FirstId + 1, demo.ActivePercent);
            }
        }
    }

    /// <summary>Adds demo users with an opening snapshot at the configured start amount, by default yesterday in the batch zone.</summary>
    public static Task<(long FirstId, long LastId)> AddDemoUsersAsync(
        IServiceProvider scopedServices, int count, int activePercent, CancellationToken cancellationToken, DateOnly? openingDay = null)
    {
        var refresh = scopedServices.GetRequiredService<IOptions<AssetRefreshOptions>>().Value;
        var today = scopedServices.GetRequiredService<BatchCalendar>().Today;
        return scopedServices.GetRequiredService<DemoPopulation>()
            .AddUsersAsync(count, openingDay ?? today.AddDays(-1), refresh.StartAmount, activePercent, cancellationToken);
    }

    [LoggerMessage(LogLevel.Information, "Database provider: {Provider}")]
    private static partial void LogDatabase(ILogger logger, DatabaseProvider provider);

    [LoggerMessage(LogLevel.Information, "Extension:BaseUrl is empty: using the in-process stand-in extension server")]
    private static partial void LogInProcessStandIn(ILogger logger);

    [LoggerMessage(LogLevel.Information, "Extension server: {BaseUrl}")]
    private static partial void LogRemoteExtension(ILogger logger, string baseUrl);

    [LoggerMessage(LogLevel.Information, "Database: SQLite file {Path}")]
    private static partial void LogSqliteFile(ILogger logger, string path);

    // The share is said here because the first refresh then reports fewer users than were added.
    [LoggerMessage(LogLevel.Information,
        "Empty database: added {Count} demo users, {ActivePercent}% of them ACTIVE (DemoData:ActivePercent); the refresh takes only ACTIVE users")]
    private static partial void LogSeeded(ILogger logger, long count, int activePercent);
}
