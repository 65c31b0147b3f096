using System.Net;
using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// A month is rolled up as soon as it closes and keeps its daily rows until it leaves the history; meanwhile every write
/// into it keeps its roll-ups what its days say (issue 27). <see cref="RolledHistory"/> with nothing let go: March to July
/// rolled up on 2025-08-10, none sealed.
/// </summary>
public sealed class EarlyRollupTests
{
    private static readonly Dictionary<string, string?> KeepEverything = new() { ["History:KeepDailyMonths"] = "25" };

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_late_day_in_a_month_rolled_up_writes_its_users_roll_ups_again_for_that_month_and_the_months_it_re_bases(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, KeepEverything);
        var history = await RolledHistory.SeedAsync(app);
        var rolled = await RolledHistory.RunLifecycleAsync(app);
        Assert.Equal((RolledHistory.ClosedMonths.Length, 0L), (rolled.MonthsRolledUp, rolled.SnapshotsDeleted));
        var before = await StoredRollupsAsync(database);
        Assert.Equal(await RollupsFromDaysAsync(database), before);

        // April 25th, behind the active users' May to August days: written, and every later day re-based.
        var late = await app.CreateClient().RunDayAsync(new DateOnly(2025, 4, 25));

        Assert.Equal(3, late.Success);
        var after = await StoredRollupsAsync(database);
        Assert.Equal(await RollupsFromDaysAsync(database), after);
        // Not vacuous: April gained a day and the months after it moved with the re-base, for each active user.
        foreach (var user in history.Active)
        {
            Assert.Equal(Days(before, user, 4) + 1, Days(after, user, 4));
            Assert.NotEqual(Of(before, user, 7).Closing, Of(after, user, 7).Closing);
        }
        Assert.Equal(before.Where(r => r.UserId == history.Dormant), after.Where(r => r.UserId == history.Dormant));
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_adjustment_on_a_balance_in_a_month_rolled_up_moves_that_months_roll_up_with_it(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, KeepEverything);
        var history = await RolledHistory.SeedAsync(app);
        await RolledHistory.RunLifecycleAsync(app);
        var before = Of(await StoredRollupsAsync(database), history.Dormant, 4);

        // The dormant user's balance is its April 7th snapshot: April, rolled up, takes the reward.
        await RolledHistory.AdjustAsync(app.CreateClient(), history.Dormant, 3_000, "late-april-reward");

        var after = await StoredRollupsAsync(database);
        Assert.Equal(await RollupsFromDaysAsync(database), after);
        Assert.Equal((before.Closing + 3_000, before.NetFlow + 3_000), (Of(after, history.Dormant, 4).Closing, Of(after, history.Dormant, 4).NetFlow));
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_day_before_the_oldest_month_rolled_up_is_refused_and_one_in_a_month_rolled_up_but_kept_daily_is_written(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, KeepEverything);
        await RolledHistory.SeedAsync(app);
        await RolledHistory.RunLifecycleAsync(app);
        var client = app.CreateClient();
        var calls = app.Extension.TotalCalls;

        // February would be a month outside the roll-ups (they start with March, the history's oldest).
        var refused = await client.PostAsync("/internal/batch/asset-refresh/runs?day=2025-02-20", null);

        await refused.AssertProblemAsync(HttpStatusCode.Conflict, "2025-02-20 is before 2025-03, the oldest month of the history");
        Assert.Equal(calls, app.Extension.TotalCalls);
        Assert.Equal(3, (await client.RunDayAsync(new DateOnly(2025, 3, 28))).Success);
    }

    [Fact]
    public async Task A_roll_up_begins_only_once_the_writes_in_flight_have_committed_and_reads_them()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database, KeepEverything);
        var history = await RolledHistory.SeedAsync(app);
        var user = history.Active[0];

        // A write in flight: a March day for one user, inserted in a transaction the test holds open.
        await using var writer = new NpgsqlConnection(database.ConnectionString);
        await writer.OpenAsync();
        await using var writing = await writer.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand($"""
            INSERT INTO daily_asset_snapshots (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
            SELECT user_id, DATE '2025-03-28', closing_amount, closing_amount, 1.0, 0, 0, now() FROM daily_asset_snapshots
             WHERE user_id = {user} AND snapshot_day = DATE '2025-03-25'
            """, writer, writing))
            Assert.Equal(1, await insert.ExecuteNonQueryAsync());

        var lifecycle = Task.Run(() => RolledHistory.RunLifecycleAsync(app));
        // It waits for the write's transaction (a SHARE lock behind the insert's ROW EXCLUSIVE), with nothing recorded yet.
        await Eventually.UntilAsync(async () => lifecycle.IsCompleted || await database.PostgresScalarAsync<bool>($"""
            SELECT EXISTS (SELECT 1 FROM pg_locks w WHERE w.locktype = 'relation' AND w.mode = 'ShareLock' AND NOT w.granted
                              AND {writer.ProcessID} = ANY (pg_blocking_pids(w.pid)))
            """), TimeSpan.FromSeconds(60));
        if (lifecycle.IsCompleted)
        {
            await lifecycle;
            Assert.Fail("the roll-up began without waiting for the write in flight");
        }
        Assert.Equal(0L, await database.PostgresScalarAsync<long>("SELECT count(*) FROM asset_rolled_up_months"));

        await writing.CommitAsync();
        var result = await lifecycle;

        Assert.Equal(RolledHistory.ClosedMonths.Length, result.MonthsRolledUp);
        Assert.Equal(4, Days(await StoredRollupsAsync(database), user, 3)); // March 3rd (the opening), 10th and 25th, and the 28th written in flight
        Assert.Equal(await RollupsFromDaysAsync(database), await StoredRollupsAsync(database));
    }

    private sealed record Rollup(long UserId, DateOnly Month, DateOnly FirstDay, DateOnly LastDay, int Days, long Opening, long Closing, long NetFlow, long MultiplierBits);

    private static int Days(List<Rollup> rollups, long user, int month) => Of(rollups, user, month).Days;

    private static Rollup Of(List<Rollup> rollups, long user, int month) => rollups.Single(r => r.UserId == user && r.Month == new DateOnly(2025, month, 1));

    private static async Task<List<Rollup>> StoredRollupsAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        return (await db.AssetMonthRollups.AsNoTracking().OrderBy(r => r.UserId).ThenBy(r => r.Month).ToListAsync())
            .Select(r => new Rollup(r.UserId, r.Month, r.FirstDay, r.LastDay, r.Days, r.OpeningAmount, r.ClosingAmount, r.NetFlow,
                BitConverter.DoubleToInt64Bits(r.MarketMultiplier)))
            .ToList();
    }

    /// <summary>What each closed month's days say now, summed here in day order as the graph sums them.</summary>
    private static async Task<List<Rollup>> RollupsFromDaysAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        var days = await db.DailyAssetSnapshots.AsNoTracking().Where(s => s.SnapshotDay < RolledHistory.ThisMonth)
            .OrderBy(s => s.UserId).ThenBy(s => s.SnapshotDay).ToListAsync();
        return days.GroupBy(s => (s.UserId, Month: new DateOnly(s.SnapshotDay.Year, s.SnapshotDay.Month, 1)))
            .Select(m => new Rollup(m.Key.UserId, m.Key.Month, m.First().SnapshotDay, m.Last().SnapshotDay, m.Count(), m.First().OpeningAmount,
                m.Last().ClosingAmount, m.Sum(s => s.NetFlow), BitConverter.DoubleToInt64Bits(m.Aggregate(1.0, (p, s) => p * (s.MarketMultiplier ?? 1.0)))))
            .OrderBy(r => r.UserId).ThenBy(r => r.Month).ToList();
    }
}
