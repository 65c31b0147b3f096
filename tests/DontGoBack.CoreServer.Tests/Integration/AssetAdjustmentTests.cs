using System.Net;
using System.Net.Http.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.Mvc;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class AssetAdjustmentTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    private static Task<HttpResponseMessage> AdjustAsync(HttpClient client, long userId, long amount, string? key, string reason = "event") =>
        client.PostAsJsonAsync($"/internal/users/{userId}/asset-adjustments", new { amount, reason, idempotencyKey = key });

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_reward_applies_at_once_to_the_current_snapshot_and_is_recorded(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-2), 9_000_000), (Day.AddDays(-1), 10_000_000));

        var response = await AdjustAsync(client, user, 500_000, "k-1", "weekly quiz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await response.Content.ReadFromJsonAsync<AdjustmentResult>();
        Assert.Equal((user, AssetChangeKind.Reward, 500_000L, 10_500_000L, "1050만", Day.AddDays(-1)),
            (result!.UserId, result.Kind, result.Delta, result.Balance, result.Nickname, result.SnapshotDay));
        var current = (await app.SnapshotsOfAsync(user)).Last();
        Assert.Equal((10_500_000L, 500_000L), (current.ClosingAmount, current.NetFlow));
        // The history also reads the given day's market move (9,000,000 → 10,000,000), from its snapshot.
        var change = Assert.Single(await app.ChangesOfAsync(user), c => c.Kind != AssetChangeKind.Market);
        Assert.Equal((AssetChangeKind.Reward, 10_000_000L, 10_500_000L, 500_000L, "weekly quiz", "k-1", current.Id),
            (change.Kind, change.AmountBefore, change.AmountAfter, change.Delta, change.Reason, change.IdempotencyKey, change.SnapshotId));
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task The_same_idempotency_key_applies_once_and_answers_the_same(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 10_000_000));

        var first = await (await AdjustAsync(client, user, -300_000, "penalty-7")).Content.ReadFromJsonAsync<AdjustmentResult>();
        var again = await AdjustAsync(client, user, -300_000, "penalty-7");
        var reused = await AdjustAsync(client, user, -1, "penalty-7");

        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(first, await again.Content.ReadFromJsonAsync<AdjustmentResult>());
        Assert.Equal(HttpStatusCode.Conflict, reused.StatusCode);
        Assert.Single(await app.ChangesOfAsync(user));
        Assert.Equal(9_700_000, (await app.SnapshotsOfAsync(user)).Last().ClosingAmount);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_penalty_below_zero_is_422_and_changes_nothing(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 1_000));

        var response = await AdjustAsync(client, user, -1_001, "too-much");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("1000", (await response.Content.ReadFromJsonAsync<ProblemDetails>())!.Detail);
        Assert.Empty(await app.ChangesOfAsync(user));
        var snapshot = Assert.Single(await app.SnapshotsOfAsync(user));
        Assert.Equal((1_000L, 0L), (snapshot.ClosingAmount, snapshot.NetFlow));
    }

    [Fact]
    public async Task Unknown_user_bad_input_and_foreign_addresses_are_refused()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 1_000));

        Assert.Equal(HttpStatusCode.NotFound, (await AdjustAsync(client, user + 100, 5, null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await AdjustAsync(client, user, 0, null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await AdjustAsync(client, user, 5, null, reason: " ")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsJsonAsync(
            $"/internal/users/{user}/asset-adjustments", new { amount = -5, reason = "x", kind = "reward" })).StatusCode);
        app.RemoteAddress = IPAddress.Parse("198.51.100.4");
        Assert.Equal(HttpStatusCode.Forbidden, (await AdjustAsync(client, user, 5, null)).StatusCode);
        Assert.Empty(await app.ChangesOfAsync(user));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task The_refresh_starts_from_the_closing_with_net_flow_and_later_flow_lands_on_the_new_day(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 10_000_000));
        await AdjustAsync(client, user, 1_000_000, "before the move");

        await client.RunDayAsync(Day);
        await AdjustAsync(client, user, -200_000, "after the move");

        var snapshots = await app.SnapshotsOfAsync(user);
        var (yesterday, today) = (snapshots[0], snapshots[1]);
        Assert.Equal((11_000_000L, 1_000_000L), (yesterday.ClosingAmount, yesterday.NetFlow));
        var moved = app.Extension.Expected(user, Day, 11_000_000);
        Assert.Equal(11_000_000, today.OpeningAmount);
        Assert.Equal(moved - 11_000_000, today.MarketDelta);
        Assert.Equal((-200_000L, moved - 200_000), (today.NetFlow, today.ClosingAmount));
        Assert.Equal(app.Extension.Rule.MultiplierFor(user, Day), today.MarketMultiplier);
        var kinds = (await app.ChangesOfAsync(user)).Select(c => (c.Kind, c.SnapshotDay)).ToArray();
        Assert.Equal([(AssetChangeKind.Reward, Day.AddDays(-1)), (AssetChangeKind.Market, Day), (AssetChangeKind.Penalty, Day)], kinds);
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Concurrent_adjustments_on_one_user_lose_no_update(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 10_000_000));

        var responses = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => AdjustAsync(client, user, 1_000 + i, $"k{i}")));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var expected = 10_000_000 + Enumerable.Range(0, 40).Sum(i => 1_000L + i);
        Assert.Equal(expected, (await app.SnapshotsOfAsync(user)).Last().ClosingAmount);
        AssertChained(await app.ChangesOfAsync(user), 10_000_000, expected);
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Adjustments_racing_the_daily_refresh_lose_no_update(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:WriteChunkSize"] = "3",
            ["AssetRefresh:MaxConcurrency"] = "4",
        });
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(60, Day.AddDays(-1), 10_000_000);

        // Answers take a while, so the refresh's chunks are written while adjustments keep coming.
        app.Extension.Latency = TimeSpan.FromMilliseconds(50);
        var refresh = client.RunDayAsync(Day);
        var adjustedTimes = new int[users.Count];
        var duringRefresh = 0;
        var key = 0;
        while (!refresh.IsCompleted || key < 60)
        {
            var batch = Enumerable.Range(key, 10).Select(async k =>
            {
                var response = await AdjustAsync(client, users[k % users.Count], 1_000, $"race-{k}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Interlocked.Increment(ref adjustedTimes[k % users.Count]);
                if (!refresh.IsCompleted)
                    Interlocked.Increment(ref duringRefresh);
            });
            await Task.WhenAll(batch);
            key += 10;
        }
        var result = await refresh;

        Assert.Equal(60, result.Success);
        // The race really happened: adjustments were applied while the refresh was writing.
        Assert.True(duringRefresh > 0, "no adjustment was applied while the refresh ran");
        foreach (var id in users)
        {
            var snapshots = await app.SnapshotsOfAsync(id);
            var (before, day) = (snapshots[0], snapshots[1]);
            // The move started from everything that landed before it, and nothing landed in between.
            Assert.Equal(before.OpeningAmount + before.NetFlow, before.ClosingAmount);
            Assert.Equal(before.ClosingAmount, day.OpeningAmount);
            Assert.Equal(app.Extension.Expected(id, Day, day.OpeningAmount), day.OpeningAmount + day.MarketDelta);
            Assert.Equal(day.OpeningAmount + day.MarketDelta + day.NetFlow, day.ClosingAmount);
            Assert.Equal(1_000L * adjustedTimes[users.IndexOf(id)], before.NetFlow + day.NetFlow);
            AssertChained(await app.ChangesOfAsync(id), 10_000_000, day.ClosingAmount);
        }
        await database.AssertChainHoldsAsync();
    }

    /// <summary>Each change starts where the one before ended: no update was overwritten.</summary>
    private static void AssertChained(List<AssetChange> changes, long start, long end)
    {
        var amount = start;
        foreach (var change in changes)
        {
            Assert.Equal(amount, change.AmountBefore);
            Assert.Equal(change.AmountBefore + change.Delta, change.AmountAfter);
            amount = change.AmountAfter;
        }
        Assert.Equal(end, amount);
    }
}
