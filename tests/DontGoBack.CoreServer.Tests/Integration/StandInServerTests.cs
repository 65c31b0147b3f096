using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.MarketSimulation;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>End to end over loopback HTTP: the core server against the stand-in extension/auth server.</summary>
public sealed class StandInServerTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Refresh_through_the_stand_in_server_with_a_real_token(DatabaseProvider provider)
    {
        await using var standIn = await StartStandInAsync();
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = CoreAgainst(standIn, database, "local-core-secret");
        var client = app.CreateClient();
        var users = new List<long>();
        for (var i = 0; i < 25; i++)
            users.Add(await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 2_000_000 + i)));
        await app.AddUserAsync(AccountStatus.Suspended, (Day.AddDays(-1), 1));

        var result = await client.RunDayAsync(Day);

        Assert.Equal(new BatchResult(Day, BatchRunStatus.Completed, 25, 25, 0, 0, result.ElapsedMs), result.WithoutRun());
        var rule = new MarketMoveRule(FakeExtensionServer.Salt);
        for (var i = 0; i < users.Count; i++)
        {
            var today = Assert.Single(await app.SnapshotsOfAsync(users[i]), s => s.SnapshotDay == Day);
            Assert.Equal(MarketMoveRule.Apply(2_000_000 + i, rule.MultiplierFor(users[i], Day)), today.ClosingAmount);
        }
        Assert.Equal(25, standIn.Calls.Count);
    }

    [Fact]
    public async Task Wrong_client_secret_fails_the_run_and_writes_nothing()
    {
        await using var standIn = await StartStandInAsync();
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = CoreAgainst(standIn, database, "not-the-secret");
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 2_000_000));

        var result = await client.RunDayAsync(Day);

        Assert.Equal(BatchRunStatus.Failed, result.Status);
        Assert.Contains("auth server refused", result.Error);
        Assert.Single(await app.SnapshotsOfAsync(user));
        Assert.Equal(0, standIn.Calls.Count);
    }

    [Fact]
    public async Task Unreachable_extension_server_fails_the_run_early()
    {
        await using var standIn = await StartStandInAsync();
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        // Port 9 (discard) on loopback: nothing listens, every connection is refused. Auth stays reachable.
        await using var app = CoreAgainst(standIn, database, "local-core-secret", extensionUrl: "http://127.0.0.1:9/");
        var client = app.CreateClient();
        for (var i = 0; i < 5; i++)
            await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 2_000_000));

        var result = await client.RunDayAsync(Day);

        Assert.Equal(BatchRunStatus.Failed, result.Status);
        Assert.Contains("extension server unreachable", result.Error);
        Assert.Equal(0, result.Success);
    }

    private static CoreServerApp CoreAgainst(StandInServer standIn, TestDatabase database, string secret, string? extensionUrl = null) =>
        new(database, new Dictionary<string, string?>
        {
            ["Extension:BaseUrl"] = extensionUrl ?? standIn.Url,
            ["Auth:BaseUrl"] = standIn.Url,
            ["Auth:ClientSecret"] = secret,
            // The attempt covers the answer's body too; on a busy machine a cold stand-in can take
            // longer than the fixture's 250 ms, and a retry would count as a second call.
            ["Extension:AttemptTimeout"] = "00:00:05",
        }) { UseFakeExtension = false };

    private static Task<StandInServer> StartStandInAsync() => StandInServer.StartAsync();
}
