using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>The chain invariant of users' histories, and the checker that finds where it breaks.</summary>
public sealed class AssetChainTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task The_checker_finds_nothing_in_a_clean_history_and_each_break_made_in_it(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var users = await app.AddActiveUsersAsync(4, Day.AddDays(-3), 10_000_000);
        var client = app.CreateClient();
        for (var day = Day.AddDays(-2); day <= Day; day = day.AddDays(1))
            await client.RunDayAsync(day);
        Assert.Equal(0, (await CheckAsync(app)).Total);

        await using (var db = database.CreateContext())
        {
            await db.DailyAssetSnapshots.Where(s => s.UserId == users[0] && s.SnapshotDay == Day.AddDays(-1))
                .ExecuteUpdateAsync(set => set.SetProperty(s => s.OpeningAmount, 1).SetProperty(s => s.ClosingAmount, s => s.ClosingAmount + 5));
            await db.DailyAssetSnapshots.Where(s => s.UserId == users[1] && s.SnapshotDay == Day)
                .ExecuteUpdateAsync(set => set.SetProperty(s => s.MarketDelta, s => s.MarketDelta + 7).SetProperty(s => s.ClosingAmount, s => s.ClosingAmount + 7));
            var older = await db.DailyAssetSnapshots.Where(s => s.UserId == users[2] && s.SnapshotDay == Day.AddDays(-2)).Select(s => s.Id).SingleAsync();
            await db.Users.Where(u => u.Id == users[2]).ExecuteUpdateAsync(set => set.SetProperty(u => u.CurrentSnapshotId, older));
        }

        var check = await CheckAsync(app);
        Assert.Equal(
            [
                (users[0], Day.AddDays(-1), "closing"), (users[0], Day.AddDays(-1), "market_delta"), (users[0], Day.AddDays(-1), "opening"),
                (users[0], Day, "opening"),
                (users[1], Day, "balance"), (users[1], Day, "market_delta"),
                (users[2], Day, "pointer"),
            ],
            check.First.Select(b => (b.UserId, b.SnapshotDay, b.Rule)).ToArray());
        Assert.Equal(7, check.Total);
    }

    private static async Task<ChainCheck> CheckAsync(CoreServerApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AssetChainVerifier>().CheckAsync(DateOnly.MinValue, DateOnly.MaxValue, 100, CancellationToken.None);
    }
}
