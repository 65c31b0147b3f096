using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class AuthTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    private static CoreServerApp RemoteExtensionApp(TestDatabase database) => new(database, new Dictionary<string, string?>
    {
        ["Extension:BaseUrl"] = "http://extension.test/",
        ["Auth:BaseUrl"] = "http://auth.test/",
        ["Auth:ClientSecret"] = "core-secret",
    });

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_rejected_token_is_replaced_once_and_the_run_continues(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = RemoteExtensionApp(database);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(30, Day.AddDays(-1), 5_000_000);
        app.Extension.AcceptsToken = token => token is not null && token != "token-1";

        var result = await client.RunDayAsync(Day);

        Assert.Equal(new BatchResult(Day, BatchRunStatus.Completed, 30, 30, 0, 0, result.ElapsedMs), result.WithoutRun());
        // Every caller saw the first token rejected, yet only one new token was fetched.
        Assert.Equal(2, app.Auth.TokensIssued);
        foreach (var id in users)
            Assert.Equal(Day, await app.CurrentDayOfAsync(id));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Tokens_rejected_every_time_fail_the_run_clearly_and_write_nothing(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = RemoteExtensionApp(database);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(30, Day.AddDays(-1), 5_000_000);
        app.Extension.AcceptsToken = _ => false;

        var response = await client.PostAsync($"{RefreshRuns.Path}?day={Day:yyyy-MM-dd}", null);
        var result = await client.RunDayAsync(Day);

        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(BatchRunStatus.Failed, result.Status);
        Assert.Contains("rejected a freshly issued token", result.Error);
        Assert.Equal(0, result.Success);
        foreach (var id in users)
        {
            Assert.Single(await app.SnapshotsOfAsync(id));
            Assert.Equal(Day.AddDays(-1), await app.CurrentDayOfAsync(id));
        }
        Assert.Empty(await app.FailuresAsync(Day));
    }
}
