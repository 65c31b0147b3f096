using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// A bad setting stops the real process, server or command, with exit code 2 and one line per
/// failing setting on standard error, without a stack trace and before the database is touched.
/// </summary>
public sealed class ConfigurationTests
{
    [Theory]
    [InlineData("AssetRefresh:Cron", "every day at three", "AssetRefresh:Cron")]
    [InlineData("Batch:TimeZone", "Mars/Olympus_Mons", "Batch:TimeZone 'Mars/Olympus_Mons' is not a known time zone.")]
    [InlineData("AssetRefresh:MaxConcurrency", "0", "MaxConcurrency")]
    [InlineData("AssetRefresh:MinSuccessRatio", "1.5", "AssetRefresh:MinSuccessRatio")]
    [InlineData("Alerts:WebhookUrl", "ftp://alerts.test/hook", "Alerts:WebhookUrl")]
    [InlineData("Extension:BaseUrl", "not a url", "Extension:BaseUrl")]
    [InlineData("Extension:BaseUrl", "http://extension.test/", "Auth:BaseUrl")]
    [InlineData("InternalAccess:AllowedNetworks:0", "everyone", "InternalAccess:AllowedNetworks")]
    [InlineData("InternalAccess:FailedAuthentication:Burst", "0", "InternalAccess:FailedAuthentication:Burst")]
    [InlineData("InternalAccess:FailedAuthentication:Interval", "00:00:00", "InternalAccess:FailedAuthentication:Interval")]
    [InlineData("InternalAccess:Hosts:0", "*.example", "InternalAccess:Hosts")]
    [InlineData("InternalAccess:Hosts:0", "core.example:5070", "InternalAccess:Hosts")]
    [InlineData("Database:Provider", "Oracle", "Database:Provider")]
    [InlineData("Batch:Clustered", "true", "Batch:Clustered=true needs Database:Provider=Postgres")]
    // Valid Quartz, but 30 February never comes: Quartz would refuse the trigger with a stack trace (exit 134).
    [InlineData("AssetRefresh:Cron", "0 0 3 30 2 ?", "AssetRefresh:Cron '0 0 3 30 2 ?' never fires")]
    [InlineData("Batch:EarliestDay", "2099-12-31", "Batch:EarliestDay 2099-12-31 is after today")]
    // A token no X-Admin-Token header can carry (a secret file's trailing newline, blanks): every caller would get 401 and count as a guesser.
    [InlineData("InternalAccess:AdminToken", "s3cret\n", "InternalAccess:AdminToken")]
    [InlineData("InternalAccess:AdminToken", "   ", "InternalAccess:AdminToken")]
    [InlineData("InternalAccess:AdminToken", " s3cret", "InternalAccess:AdminToken")]
    public async Task Bad_setting_stops_the_server_with_exit_2_and_a_line_naming_the_setting(string key, string value, string named)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);

        var server = await CoreServerProcess.RunAsync(Settings(database, (key, value)), [], timeout: TimeSpan.FromSeconds(30));

        AssertConfigurationError(server, named);
    }

    [Theory]
    [InlineData("AssetRefresh:Cron", "nonsense", "AssetRefresh:Cron")]
    [InlineData("Database:Provider", "Oracle", "Database:Provider")]
    [InlineData("Extension:BaseUrl", "http://extension.test/", "Auth:BaseUrl")]
    [InlineData("Batch:TimeZone", "Mars/Olympus_Mons", "Batch:TimeZone 'Mars/Olympus_Mons' is not a known time zone.")]
    [InlineData("AssetRefresh:Cron", "0 0 3 30 2 ?", "AssetRefresh:Cron '0 0 3 30 2 ?' never fires")]
    [InlineData("Batch:EarliestDay", "2099-12-31", "Batch:EarliestDay 2099-12-31 is after today")]
    public async Task Bad_setting_stops_a_command_the_same_way(string key, string value, string named)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);

        var command = await CoreServerProcess.RunAsync(Settings(database, (key, value)), ["runs"]);

        AssertConfigurationError(command, named);
    }

    [Fact]
    public async Task Each_failing_setting_gets_a_line_of_its_own()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);

        var command = await CoreServerProcess.RunAsync(
            Settings(database, ("AssetRefresh:Cron", "nonsense"), ("Batch:TimeZone", "Mars/Olympus_Mons")), ["refresh"]);

        AssertConfigurationError(command, "AssetRefresh:Cron");
        // Every job's clock check reads the batch zone too: the zone is still one line.
        Assert.Equal(2, command.StandardError.Count);
        Assert.Contains(command.StandardError, line => line.Contains("Batch:TimeZone"));
    }

    [Theory]
    [InlineData("AssetRefresh", new string[0])]
    [InlineData("UserDormancy", new string[0])]
    [InlineData("AssetRefresh", new[] { "runs" })]
    public async Task A_jobs_own_TimeZone_stops_the_process_with_one_line_saying_to_set_Batch_TimeZone(string section, string[] arguments)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);

        // Even naming the batch zone itself: a per-job zone is no longer read, and ignoring it silently would hide a changed meaning.
        var process = await CoreServerProcess.RunAsync(Settings(database, ($"{section}:TimeZone", "Asia/Seoul")), arguments, timeout: TimeSpan.FromSeconds(30));

        AssertConfigurationError(process, $"{section}:TimeZone");
        Assert.Equal(
            [$"Configuration error: {section}:TimeZone is no longer a setting: every batch counts its days in one zone, so set Batch:TimeZone instead and remove {section}:TimeZone."],
            process.StandardError);
    }

    [Theory]
    [InlineData("AssetHistory:RetentionDays", "30", "History:ChangeRetentionDays", new string[0])]
    [InlineData("AssetHistory:DeleteBatchSize", "500", "History:DeleteBatchSize", new string[0])]
    [InlineData("AssetHistory:RetentionDays", "30", "History:ChangeRetentionDays", new[] { "runs" })]
    public async Task A_retired_AssetHistory_setting_stops_the_process_with_one_line_naming_its_History_key(
        string key, string value, string successor, string[] arguments)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);

        // The retention an operator set must not silently stop applying because its section moved.
        var process = await CoreServerProcess.RunAsync(Settings(database, (key, value)), arguments, timeout: TimeSpan.FromSeconds(30));

        AssertConfigurationError(process, key);
        Assert.Equal([$"Configuration error: {key} is no longer a setting: set {successor} instead and remove {key}."], process.StandardError);
    }

    [Theory]
    [InlineData("History:KeepDailyMonths", "1", "History:KeepDailyMonths")]
    [InlineData("History:DeleteBatchSize", "0", "History:DeleteBatchSize")]
    [InlineData("History:ChangeRetentionDays", "0", "History:ChangeRetentionDays")]
    public async Task A_bad_History_setting_stops_the_server_with_a_line_naming_it(string key, string value, string named)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);

        var server = await CoreServerProcess.RunAsync(Settings(database, (key, value)), [], timeout: TimeSpan.FromSeconds(30));

        AssertConfigurationError(server, named);
    }

    [Fact]
    public async Task An_unreachable_database_stops_the_server_with_exit_1_and_one_line_without_a_stack_trace()
    {
        var connection = new NpgsqlConnectionStringBuilder(TestDatabase.AdminConnectionString()) { Host = "127.0.0.1", Port = 1, Database = "dontgoback_never_created" };

        var server = await CoreServerProcess.RunAsync(PostgresAt(connection.ConnectionString), [], timeout: TimeSpan.FromSeconds(60));

        Assert.True(server.ExitCode == 1, $"exit code {server.ExitCode}; output:\n{server.Output}");
        Assert.Equal(["The server cannot start: database unavailable: Failed to connect to 127.0.0.1:1"], server.StandardError);
        Assert.DoesNotContain(server.StandardOutput, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_missing_database_is_created_and_the_server_starts_on_it()
    {
        await using var database = await MissingDatabaseAsync();

        await using var server = CoreServerProcess.Start(PostgresAt(database.ConnectionString));
        // The console's address is logged once the server listens, after the migrations; a server that cannot start exits.
        await Eventually.UntilAsync(
            () => Task.FromResult(server.HasExited || server.Output.Contains("Operations console: ", StringComparison.Ordinal)), TimeSpan.FromSeconds(60));

        Assert.False(server.HasExited, $"the server exited; output:\n{server.Output}");
        Assert.Contains(server.StandardOutput, line => line.Contains($"Database {DatabaseName(database)} did not exist on 127.0.0.1:", StringComparison.Ordinal));
        Assert.Empty(server.StandardError);
        Assert.Equal(0, await CountRunsAsync(database));
    }

    [Fact]
    public async Task A_missing_database_is_created_for_a_command()
    {
        await using var database = await MissingDatabaseAsync();

        var runs = await CoreServerProcess.RunAsync(PostgresAt(database.ConnectionString), ["runs", "--json"]);

        Assert.True(runs.ExitCode == 0, $"exit code {runs.ExitCode}; output:\n{runs.Output}");
        Assert.Equal(["[]"], runs.StandardOutput);
        Assert.Equal(0, await CountRunsAsync(database));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("runs")]
    public async Task A_missing_database_the_role_may_not_create_stops_it_with_one_line_naming_what_to_run(string? command)
    {
        await using var database = await MissingDatabaseAsync();
        var role = $"dgb_no_createdb_{Guid.NewGuid():N}"[..30];
        await AdminAsync($"CREATE ROLE {role} LOGIN PASSWORD 'secret' NOCREATEDB");
        try
        {
            var connection = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Username = role, Password = "secret" };
            var name = DatabaseName(database);

            var process = await CoreServerProcess.RunAsync(PostgresAt(connection.ConnectionString), command is null ? [] : [command]);

            Assert.True(process.ExitCode == 1, $"exit code {process.ExitCode}; output:\n{process.Output}");
            // A command logs to standard error as well: the start-up's information lines, never an error's.
            var line = Assert.Single(process.StandardError, line => !line.StartsWith("info:", StringComparison.Ordinal) && !line.StartsWith("      ", StringComparison.Ordinal));
            Assert.StartsWith(command is null ? "The server cannot start: " : "runs failed: ", line);
            Assert.Contains($"database \"{name}\" does not exist and role \"{role}\" may not create it (42501: permission denied to create database)", line);
            Assert.Contains($"createdb -h 127.0.0.1 -p {connection.Port} -U postgres -O {role} {name}", line);
            Assert.Contains($"CREATE DATABASE \"{name}\" OWNER \"{role}\";", line);
            Assert.DoesNotContain(process.Output.Split('\n'), output => output.TrimStart().StartsWith("at ", StringComparison.Ordinal));
            Assert.False(await DatabaseExistsAsync(name));
        }
        finally
        {
            await AdminAsync($"DROP ROLE {role}");
        }
    }

    private static Dictionary<string, string?> PostgresAt(string connectionString) => new()
    {
        ["Database:Provider"] = "Postgres", ["ConnectionStrings:DontGoBack"] = connectionString,
    };

    /// <summary>A PostgreSQL database's name and connection string, the database itself dropped (and dropped again at the end, if created).</summary>
    private static async Task<TestDatabase> MissingDatabaseAsync()
    {
        var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await AdminAsync($"DROP DATABASE {DatabaseName(database)}");
        return database;
    }

    private static string DatabaseName(TestDatabase database) => new NpgsqlConnectionStringBuilder(database.ConnectionString).Database!;

    private static async Task AdminAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(TestDatabase.AdminConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<bool> DatabaseExistsAsync(string name)
    {
        await using var connection = new NpgsqlConnection(TestDatabase.AdminConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_database WHERE datname = @name", connection);
        command.Parameters.AddWithValue("name", name);
        return (long)(await command.ExecuteScalarAsync())! == 1;
    }

    /// <summary>Reads the created database's run history: it exists and every migration reached it.</summary>
    private static async Task<int> CountRunsAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        return await db.BatchRuns.CountAsync();
    }

    private static Dictionary<string, string?> Settings(TestDatabase database, params (string Key, string Value)[] bad)
    {
        var settings = new Dictionary<string, string?> { ["ConnectionStrings:DontGoBack"] = database.ConnectionString };
        foreach (var (key, value) in bad)
            settings[key] = value;
        return settings;
    }

    private static void AssertConfigurationError(CoreServerProcess process, string named)
    {
        Assert.True(process.ExitCode == 2, $"exit code {process.ExitCode}; output:\n{process.Output}");
        Assert.Empty(process.StandardOutput);
        Assert.NotEmpty(process.StandardError);
        Assert.All(process.StandardError, line => Assert.StartsWith("Configuration error: ", line));
        Assert.Contains(process.StandardError, line => line.Contains(named));
        Assert.DoesNotContain(process.StandardError, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Settings_are_checked_once_per_process_not_again_by_each_preparation()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var validations = new CountingStartupValidator();
        await using var app = new CoreServerApp(database) { TestServices = services => validations.Decorate(services) };
        var startup = app.Services.GetRequiredService<DontGoBack.CoreServer.Hosting.CoreServerStartup>();
        Assert.True(startup.Prepared);
        var checkedAtStart = validations.Count;

        // What a command does: its runner checks the settings, then the command prepares the database.
        startup.CheckSettings();
        await startup.PrepareAsync(seed: false, CancellationToken.None);

        Assert.True(checkedAtStart > 0, "the host's own preparation checked the settings");
        Assert.Equal(checkedAtStart, validations.Count);
    }

    /// <summary>Counts the start-up validations, the settings check's first step, around the framework's own validator.</summary>
    private sealed class CountingStartupValidator
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void Decorate(IServiceCollection services)
        {
            var original = services.Last(d => d.ServiceType == typeof(IStartupValidator));
            services.Remove(original);
            services.AddTransient<IStartupValidator>(provider => new Counting(this,
                (IStartupValidator)ActivatorUtilities.CreateInstance(
                    provider, original.ImplementationType!)));
        }

        private sealed class Counting(CountingStartupValidator counter, IStartupValidator inner)
            : IStartupValidator
        {
            public void Validate()
            {
                Interlocked.Increment(ref counter._count);
                inner.Validate();
            }
        }
    }
}
