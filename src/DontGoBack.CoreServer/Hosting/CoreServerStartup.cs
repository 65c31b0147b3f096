using DontGoBack.CoreServer.InterServer.Extension;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>What must hold before the server or a CLI command does any work: sound settings, a migrated (and maybe seeded) database.</summary>
public sealed partial class CoreServerStartup(
    IServiceScopeFactory scopes, DatabaseMigration migration, IOptions<DatabaseOptions> database,
    IOptions<ExtensionOptions> extension, IOptions<BatchOptions> batch, ILogger<CoreServerStartup> logger, SqliteDatabase? sqlite = null)
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

    /// <summary>
    /// Bad settings fail here, naming the setting, before anything touches the database. The server
    /// checks before its host starts, since a host that fails to start logs the error with its stack trace.
    /// Once per process: a command (checked by its runner) and the server (by Program.cs) then prepare the
    /// database, whose <see cref="PrepareAsync"/> checks only for a host that has not (a test host).
    /// </summary>
    public void CheckSettings()
    {
        if (SettingsChecked)
            return;
        // Resolved here, not injected: the validator must see every section before any one of them is read.
        using var scope = scopes.CreateScope();
        scope.ServiceProvider.GetService<IStartupValidator>()?.Validate();
        // Batch:EarliestDay is not after today in the batch zone, or this says so.
        scope.ServiceProvider.GetRequiredService<BatchCalendar>();
        SettingsChecked = true;
    }

    /// <summary>True once <see cref="CheckSettings"/> passed in this process: settings do not change after, so once is enough.</summary>
    public bool SettingsChecked { get; private set; }

    /// <summary>True once <see cref="PrepareAsync"/> went through in this process.</summary>
    public bool Prepared { get; private set; }

    /// <param name="seed">Run the seeders (demo users on an empty database); a command that only reads or adds its own leaves them out.</param>
    public async Task PrepareAsync(bool seed, CancellationToken cancellationToken)
    {
        CheckSettings();
        if (sqlite?.FullPath is { } file)
            LogSqliteFile(logger, file);
        else
            LogDatabase(logger, database.Value.Provider);
        await migration.MigrateAsync(cancellationToken);

        if (extension.Value.UsesInProcessStandIn)
            LogInProcessStandIn(logger);
        else
            LogRemoteExtension(logger, extension.Value.BaseUrl!);

        // The name this process's runs, partitions, alerts and (clustered) check-ins carry: one to grep the logs for.
        LogNode(logger, batch.Value.ResolveNodeName(), batch.Value.Clustered ? "clustered" : "alone");

        if (seed)
            await migration.SeedAsync(cancellationToken);
        Prepared = true;
    }

    /// <summary>
    /// The one line a process prints when the database stopped its preparation (unreachable, refused, read-only
    /// with migrations pending, missing and not creatable); null when <paramref name="exception"/> is not the database's fault.
    /// </summary>
    public static string? DatabaseFailure(Exception exception) => exception switch
    {
        DatabaseRefusesWritesException refused => refused.Message,
        DatabaseMissingException missing => missing.Message,
        _ when DatabaseFaults.IsDatabaseFault(exception) => DatabaseFaults.Describe(exception),
        _ => null,
    };

    /// <summary>For a command that writes: a database that refuses writes (read-only, storage full) stops it before it starts, in one line.</summary>
    /// <exception cref="DatabaseRefusesWritesException">The database refuses writes.</exception>
    public Task EnsureWritableAsync(CancellationToken cancellationToken) => migration.EnsureWritableAsync(cancellationToken);

    [LoggerMessage(LogLevel.Information, "Database provider: {Provider}")]
    private static partial void LogDatabase(ILogger logger, DatabaseProvider provider);

    [LoggerMessage(LogLevel.Information, "Extension:BaseUrl is empty: using the in-process stand-in extension server")]
    private static partial void LogInProcessStandIn(ILogger logger);

    [LoggerMessage(LogLevel.Information, "Node: {Node} ({Mode})")]
    private static partial void LogNode(ILogger logger, string node, string mode);

    [LoggerMessage(LogLevel.Information, "Extension server: {BaseUrl}")]
    private static partial void LogRemoteExtension(ILogger logger, string baseUrl);

    [LoggerMessage(LogLevel.Information, "Database: SQLite file {Path}")]
    private static partial void LogSqliteFile(ILogger logger, string path);
}

/// <summary>
/// The server prepares the database as its host starts: in the starting phase, so every hosted
/// service (the scheduler, the start-up catch-up) and the HTTP server find it migrated and seeded.
/// </summary>
public sealed class DatabasePreparationService(CoreServerStartup startup) : IHostedLifecycleService
{
    // A server process has prepared it already, before its host started (Program.cs); a test host has not.
    public Task StartingAsync(CancellationToken cancellationToken) =>
        startup.Prepared ? Task.CompletedTask : startup.PrepareAsync(seed: true, cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class CoreServerStartupExtensions
{
    /// <summary>Start-up preparation for the server (a hosted service) and the commands, and the demo seeder.</summary>
    public static IHostApplicationBuilder AddCoreServerStartup(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<CoreServerStartup>();
        builder.Services.AddScoped<DemoDataSeeder>();
        builder.Services.AddScoped<IDbSeeder<DontGoBackDbContext>>(services => services.GetRequiredService<DemoDataSeeder>());
        builder.Services.AddHostedService<DatabasePreparationService>();
        return builder;
    }
}
