using System.Net.Http.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
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
        await database.AssertChainHoldsAsync();

        await using (var db = database.CreateContext())
        {
            await db.DailyAssetSnapshots.Where(s => s.UserId == users[0] && s.SnapshotDay == Day.AddDays(-1))
                .ExecuteUpdateAsync(set => set.SetProperty(s => s.OpeningAmount, 1).SetProperty(s => s.ClosingAmount, s => s.ClosingAmount + 5));
            await db.DailyAssetSnapshots.Where(s => s.UserId == users[1] && s.SnapshotDay == Day)
                .ExecuteUpdateAsync(set => set.SetProperty(s => s.MarketDelta, s => s.MarketDelta + 7).SetProperty(s => s.ClosingAmount, s => s.ClosingAmount + 7));
            var older = await db.DailyAssetSnapshots.Where(s => s.UserId == users[2] && s.SnapshotDay == Day.AddDays(-2)).Select(s => s.Id).SingleAsync();
            await db.Users.Where(u => u.Id == users[2]).ExecuteUpdateAsync(set => set
                .SetProperty(u => u.CurrentSnapshotId, older).SetProperty(u => u.CurrentSnapshotDay, Day.AddDays(-2)));
        }

        var check = await CheckAsync(app);
        Assert.Equal(
            [
                (users[0], Day.AddDays(-1), "closing"), (users[0], Day.AddDays(-1), "market_delta"), (users[0], Day.AddDays(-1), "opening"),
                (users[0], Day, "opening"),
                // The market move lives in the snapshot alone, so a delta changed with its closing
                // leaves no second record to disagree with: only its multiplier gives it away.
                (users[1], Day, "market_delta"),
                // The last change no longer meets the closing the pointer is on.
                (users[2], Day, "balance"), (users[2], Day, "pointer"),
            ],
            check.First.Select(b => (b.UserId, b.SnapshotDay, b.Rule)).ToArray());
        Assert.Equal(7, check.Total);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Back_filling_before_the_accounts_opened_writes_nothing_there_and_says_why(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        await using (var scope = app.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<DemoDataSeeder>().AddUsersAsync(20, activePercent: 100, CancellationToken.None);
        var client = app.CreateClient();

        // seed (openings yesterday), then a back-fill of the 5 days before today, oldest first.
        var results = new List<BatchResult>();
        for (var day = Day.AddDays(-5); day < Day; day = day.AddDays(1))
            results.Add(await client.RunDayAsync(day));

        Assert.All(results.Take(4), r => Assert.Equal((0, 20, 20), (r.Success, r.Skipped, r.NotDue)));
        Assert.Equal((0, 20, 0), (results[^1].Success, results[^1].Skipped, results[^1].NotDue));
        await using (var db = database.CreateContext())
            Assert.False(await db.DailyAssetSnapshots.AnyAsync(s => s.SnapshotDay < Day.AddDays(-1)));
        Assert.Equal(20, (await client.RunDayAsync(Day)).Success);
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_failed_day_retried_after_the_next_day_re_bases_it_to_the_amounts_of_an_unbroken_run(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var users = await app.AddActiveUsersAsync(3, Day.AddDays(-2), 10_000_000);
        var client = app.CreateClient();
        var failing = users[1];

        app.Extension.Inject(FakeExtensionServer.Fault.ServerError, failing);
        Assert.Equal(1, (await client.RunDayAsync(Day.AddDays(-1))).Failed);
        app.Extension.ClearFaults();
        Assert.Equal(3, (await client.RunDayAsync(Day)).Success);
        var retry = await client.RunDayAsync(Day.AddDays(-1));

        Assert.Equal((1, 0, 1, 1), (retry.Success, retry.Failed, retry.Rebased().RebasedUsers, retry.Rebased().RebasedDays));
        foreach (var user in users)
        {
            var expectedYesterday = app.Extension.Expected(user, Day.AddDays(-1), 10_000_000);
            var expectedToday = app.Extension.Expected(user, Day, expectedYesterday);
            var snapshots = await app.SnapshotsOfAsync(user);
            Assert.Equal([10_000_000, expectedYesterday, expectedToday], snapshots.Select(s => s.ClosingAmount));
            Assert.Equal(Day, await app.CurrentDayOfAsync(user));
        }
        var rebase = (await app.ChangesOfAsync(failing)).Last();
        Assert.Equal(AssetChangeKind.Rebase, rebase.Kind);
        Assert.Contains("2025-08-09", rebase.Reason);
        await database.AssertChainHoldsAsync();
        await using var db = database.CreateContext();
        var run = await db.BatchRuns.SingleAsync(r => r.Day == Day.AddDays(-1));
        Assert.Equal((1, 1), (run.Rebased().RebasedUsers, run.Rebased().RebasedDays));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Filling_holes_in_any_order_ends_where_an_in_order_run_ends_net_flow_included(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var user = await app.AddUserAsync(Domain.Users.AccountStatus.Active, (Day.AddDays(-5), 10_000_000));
        var client = app.CreateClient();

        await client.RunDayAsync(Day.AddDays(-3));
        await client.RunDayAsync(Day.AddDays(-1));
        var reward = await client.PostAsJsonAsync($"/internal/users/{user}/asset-adjustments", new { amount = 250_000, reason = "quiz" });
        Assert.Equal(System.Net.HttpStatusCode.OK, reward.StatusCode);
        await client.RunDayAsync(Day);
        var fourDaysAgo = await client.RunDayAsync(Day.AddDays(-4));
        var twoDaysAgo = await client.RunDayAsync(Day.AddDays(-2));

        Assert.Equal((1, 3), (fourDaysAgo.Rebased().RebasedUsers, fourDaysAgo.Rebased().RebasedDays));
        Assert.Equal((1, 2), (twoDaysAgo.Rebased().RebasedUsers, twoDaysAgo.Rebased().RebasedDays));
        // In order: each day from the one before; the reward stays on the day it landed on (D-1).
        var expected = new List<long> { 10_000_000 };
        for (var day = Day.AddDays(-4); day <= Day; day = day.AddDays(1))
            expected.Add(app.Extension.Expected(user, day, expected[^1]) + (day == Day.AddDays(-1) ? 250_000 : 0));
        var snapshots = await app.SnapshotsOfAsync(user);
        Assert.Equal(expected, snapshots.Select(s => s.ClosingAmount));
        Assert.Equal(250_000, snapshots.Single(s => s.SnapshotDay == Day.AddDays(-1)).NetFlow);
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_re_base_that_would_go_below_zero_is_clamped_by_a_recorded_correction(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var candidates = await app.AddActiveUsersAsync(10, Day.AddDays(-3), 1_000_000);
        // A user whose missing day lost value: filling it lowers the base of the day after.
        var user = candidates.First(u => app.Extension.Rule.MultiplierFor(u, Day.AddDays(-2)) < 0.999);
        var client = app.CreateClient();
        await client.RunDayAsync(Day.AddDays(-1));
        var balance = (await app.SnapshotsOfAsync(user)).Last().ClosingAmount;
        var penalty = await client.PostAsJsonAsync($"/internal/users/{user}/asset-adjustments", new { amount = -balance, reason = "fraud" });
        Assert.Equal(System.Net.HttpStatusCode.OK, penalty.StatusCode);

        var late = await client.RunDayAsync(Day.AddDays(-2));

        Assert.True(late.Rebased().RebasedUsers >= 1);
        var yesterday = (await app.SnapshotsOfAsync(user)).Last();
        Assert.Equal(0, yesterday.ClosingAmount);
        var moved = app.Extension.Expected(user, Day.AddDays(-1), app.Extension.Expected(user, Day.AddDays(-2), 1_000_000));
        Assert.Equal(-balance + (balance - moved), yesterday.NetFlow);
        var changes = await app.ChangesOfAsync(user);
        Assert.Equal([AssetChangeKind.Correction, AssetChangeKind.Rebase], changes.TakeLast(2).Select(c => c.Kind));
        Assert.Equal(balance - moved, changes[^2].Delta);
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Adjustments_racing_a_late_day_that_re_bases_their_users_lose_nothing(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:WriteChunkSize"] = "3",
            ["AssetRefresh:MaxConcurrency"] = "4",
        });
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(60, Day.AddDays(-2), 10_000_000);
        await client.RunDayAsync(Day);

        // The late day's answers take a while, so its chunks re-base users while their adjustments keep coming.
        app.Extension.Latency = TimeSpan.FromMilliseconds(50);
        var late = client.RunDayAsync(Day.AddDays(-1));
        var adjustedTimes = new int[users.Count];
        var duringRebase = 0;
        var key = 0;
        while (!late.IsCompleted || key < 60)
        {
            await Task.WhenAll(Enumerable.Range(key, 10).Select(async k =>
            {
                var response = await client.PostAsJsonAsync($"/internal/users/{users[k % users.Count]}/asset-adjustments",
                    new { amount = -1_000, reason = "race", idempotencyKey = $"race-{k}" });
                Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
                Interlocked.Increment(ref adjustedTimes[k % users.Count]);
                if (!late.IsCompleted)
                    Interlocked.Increment(ref duringRebase);
            }));
            key += 10;
        }
        var result = await late;

        Assert.Equal((60, 60, 60), (result.Success, result.Rebased().RebasedUsers, result.Rebased().RebasedDays));
        Assert.True(duringRebase > 0, "no adjustment was applied while the late day was written");
        for (var i = 0; i < users.Count; i++)
        {
            var today = (await app.SnapshotsOfAsync(users[i])).Last();
            var yesterday = app.Extension.Expected(users[i], Day.AddDays(-1), 10_000_000);
            Assert.Equal(-1_000L * adjustedTimes[i], today.NetFlow);
            Assert.Equal(app.Extension.Expected(users[i], Day, yesterday) + today.NetFlow, today.ClosingAmount);
        }
        await database.AssertChainHoldsAsync();
    }

    private static async Task<ChainCheck> CheckAsync(CoreServerApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AssetChainVerifier>().CheckAsync(DateOnly.MinValue, DateOnly.MaxValue, 100, CancellationToken.None);
    }
}
