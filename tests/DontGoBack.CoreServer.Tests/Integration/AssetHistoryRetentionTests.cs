using System.Net;
using System.Net.Http.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>The configurable retention of the change history.</summary>
public sealed class AssetHistoryRetentionTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Changes_older_than_the_retention_go_in_batches_newer_ones_stay_and_the_chain_still_holds(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(3, Day.AddDays(-3), 10_000_000);
        // Two changes per user on the oldest day, one on the newest: five old rows, more than two batches of two.
        foreach (var user in users)
            await AdjustAsync(client, user, 100_000, $"old-{user}");
        foreach (var user in users.Take(2))
            await AdjustAsync(client, user, -50_000, $"older-{user}");
        for (var day = Day.AddDays(-2); day <= Day; day = day.AddDays(1))
            await client.RunDayAsync(day);
        foreach (var user in users)
            await AdjustAsync(client, user, 7_000, $"new-{user}");
        var before = await ChangesAsync(database);
        Assert.Equal(8, before.Count);

        // Off by default: the service as the server registers it keeps everything.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var defaults = scope.ServiceProvider.GetRequiredService<AssetHistoryRetention>();
            Assert.Equal(0, await defaults.DeleteExpiredChangesAsync(Day, CancellationToken.None));
        }
        Assert.Equal(before, await ChangesAsync(database));

        await using (var db = database.CreateContext())
        {
            var retention = new AssetHistoryRetention(db, Options.Create(new HistoryOptions { ChangeRetentionDays = 2, DeleteBatchSize = 2 }));
            Assert.Equal(5, await retention.DeleteExpiredChangesAsync(Day, CancellationToken.None));
            // A second run finds nothing left to delete.
            Assert.Equal(0, await retention.DeleteExpiredChangesAsync(Day, CancellationToken.None));
        }

        Assert.Equal(before.Where(c => c.SnapshotDay >= Day.AddDays(-2)).ToList(), await ChangesAsync(database));
        Assert.All(await ChangesAsync(database), c => Assert.Equal(Day, c.SnapshotDay));
        await using (var db = database.CreateContext())
            Assert.Equal(users.Count * 4, await db.DailyAssetSnapshots.CountAsync());
        await database.AssertChainHoldsAsync();
    }

    private static async Task AdjustAsync(HttpClient client, long userId, long amount, string key)
    {
        var response = await client.PostAsJsonAsync($"/internal/users/{userId}/asset-adjustments", new { amount, reason = "event", idempotencyKey = key });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<List<(long Id, long UserId, DateOnly SnapshotDay, long Delta)>> ChangesAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        return (await db.AssetChanges.AsNoTracking().OrderBy(c => c.Id).ToListAsync())
            .Select(c => (c.Id, c.UserId, c.SnapshotDay, c.Delta)).ToList();
    }
}
