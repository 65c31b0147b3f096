using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class ConfigurationTests
{
    [Theory]
    [InlineData("AssetRefresh:Cron", "every day at three", "AssetRefresh:Cron")]
    [InlineData("AssetRefresh:TimeZone", "Mars/Olympus_Mons", "AssetRefresh:TimeZone")]
    [InlineData("AssetRefresh:MaxConcurrency", "0", "MaxConcurrency")]
    [InlineData("Extension:BaseUrl", "not a url", "Extension:BaseUrl")]
    [InlineData("Extension:BaseUrl", "http://extension.test/", "Auth:BaseUrl")]
    [InlineData("InternalAccess:AllowedNetworks:0", "everyone", "InternalAccess:AllowedNetworks")]
    [InlineData("Database:Provider", "Oracle", "Database:Provider")]
    [InlineData("Batch:Clustered", "true", "Batch:Clustered=true needs Database:Provider=Postgres")]
    public async Task Bad_setting_stops_start_up_and_names_the_setting(string key, string value, string named)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { [key] = value });

        var error = Record.Exception(() => app.CreateClient());

        Assert.NotNull(error);
        Assert.Contains(named, Flatten(error));
    }

    private static string Flatten(Exception error) =>
        error is AggregateException aggregate
            ? string.Join('\n', aggregate.InnerExceptions.Select(Flatten))
            : error.Message + (error.InnerException is null ? "" : "\n" + Flatten(error.InnerException));
}
