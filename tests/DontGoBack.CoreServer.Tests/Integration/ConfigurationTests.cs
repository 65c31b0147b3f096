using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// A bad setting stops the real process, server or command, with exit code 2 and one line per
/// failing setting on standard error, without a stack trace and before the database is touched.
/// </summary>
public sealed class ConfigurationTests
{
    [Theory]
    [InlineData("AssetRefresh:Cron", "every day at three", "AssetRefresh:Cron")]
    [InlineData("AssetRefresh:TimeZone", "Mars/Olympus_Mons", "AssetRefresh:TimeZone")]
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
            Settings(database, ("AssetRefresh:Cron", "nonsense"), ("AssetRefresh:TimeZone", "Mars/Olympus_Mons")), ["refresh"]);

        AssertConfigurationError(command, "AssetRefresh:Cron");
        Assert.Equal(2, command.StandardError.Count);
        Assert.Contains(command.StandardError, line => line.Contains("AssetRefresh:TimeZone"));
    }

    [Theory]
    [InlineData("unreachable", "database unavailable: Failed to connect to 127.0.0.1:1")]
    [InlineData("missing", "database error: 3D000: database \"dontgoback_never_created\" does not exist")]
    public async Task A_database_the_server_cannot_use_stops_it_with_exit_1_and_one_line_without_a_stack_trace(string database, string says)
    {
        var connection = new Npgsql.NpgsqlConnectionStringBuilder(TestDatabase.AdminConnectionString()) { Database = "dontgoback_never_created" };
        if (database == "unreachable")
            (connection.Host, connection.Port) = ("127.0.0.1", 1);
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = "Postgres", ["ConnectionStrings:DontGoBack"] = connection.ConnectionString,
        };

        var server = await CoreServerProcess.RunAsync(settings, [], timeout: TimeSpan.FromSeconds(60));

        Assert.True(server.ExitCode == 1, $"exit code {server.ExitCode}; output:\n{server.Output}");
        Assert.Equal([$"The server cannot start: {says}"], server.StandardError);
        Assert.DoesNotContain(server.StandardOutput, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
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
}
