using System.Net;
using System.Net.Http.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>Letting months of daily history go: roll-ups, batched deletes, resumption (issue 27, both providers).</summary>
public sealed class AssetHistoryLifecycleTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Months_past_the_kept_ones_are_rolled_up_and_their_daily_rows_go_but_current_snapshots_and_a_rerun_does_nothing(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        var history = await RolledHistory.SeedAsync(app);
        var expected = await RolledHistory.ExpectedAsync(app, history);
        var steps = new List<HistoryLifecycleStep>();

        var result = await RolledHistory.RunLifecycleAsync(app, new RolledHistory.Steps(steps.Add), CancellationToken.None);

        Assert.Equal(new HistoryLifecycleResult(5, expected.Rollups.Count, expected.SnapshotsDeleted, expected.ChangesDeleted), result);
        await RolledHistory.AssertEndStateAsync(app, expected);
        // The dormant user's pointer is on an April day: that snapshot and its change stay, its month is rolled up all the same.
        Assert.Equal(new DateOnly(2025, 4, 7), await app.CurrentDayOfAsync(history.Dormant));
        Assert.Contains(expected.Rollups, r => r.UserId == history.Dormant && r.Month == new DateOnly(2025, 4, 1));
        // Progress in batches of History:DeleteBatchSize (2): every step is at most a batch, and they add up to the result.
        Assert.All(steps.Where(s => s.Stage != HistoryLifecycleStage.RolledUp), s => Assert.InRange(s.Rows, 1, 2));
        Assert.Equal(result.SnapshotsDeleted, steps.Where(s => s.Stage == HistoryLifecycleStage.SnapshotsDeleted).Sum(s => s.Rows));
        Assert.Equal(result.ChangesDeleted, steps.Where(s => s.Stage == HistoryLifecycleStage.ChangesDeleted).Sum(s => s.Rows));
        Assert.Equal(RolledHistory.ClosedMonths, steps.Where(s => s.Stage == HistoryLifecycleStage.RolledUp).Select(s => s.Month!.Value).ToList());
        await database.AssertChainHoldsAsync();

        var again = await RolledHistory.RunLifecycleAsync(app, new RolledHistory.Steps(steps.Add), CancellationToken.None);

        Assert.Equal(HistoryLifecycleResult.Nothing, again);
        await RolledHistory.AssertEndStateAsync(app, expected);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite, HistoryLifecycleStage.RolledUp)]
    [InlineData(DatabaseProvider.Sqlite, HistoryLifecycleStage.SnapshotsDeleted)]
    [InlineData(DatabaseProvider.Postgres, HistoryLifecycleStage.RolledUp)]
    [InlineData(DatabaseProvider.Postgres, HistoryLifecycleStage.SnapshotsDeleted)]
    public async Task A_run_interrupted_mid_way_is_finished_by_the_next_with_nothing_lost_or_doubled(DatabaseProvider provider, HistoryLifecycleStage stopAfter)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        var history = await RolledHistory.SeedAsync(app);
        var expected = await RolledHistory.ExpectedAsync(app, history);

        // Cancelled as March's first step of that stage is reported: the next statement (April's roll-up, or a delete) is the one cut off.
        await RolledHistory.RunLifecycleStoppedAtAsync(app, stopAfter);

        int rolledUpBefore;
        await using (var db = database.CreateContext())
        {
            // Mid-way indeed: March rolled up, its daily rows not all gone; after its roll-up, no other month begun.
            var months = await db.AssetRolledUpMonths.AsNoTracking().OrderBy(m => m.Month).ToListAsync();
            Assert.Equal((new DateOnly(2025, 3, 1), (DateTimeOffset?)null), (months[0].Month, months[0].DailyRowsDeletedAt));
            Assert.True(await db.DailyAssetSnapshots.CountAsync(s => s.SnapshotDay < new DateOnly(2025, 4, 1)) > 1);
            Assert.Equal(stopAfter == HistoryLifecycleStage.RolledUp ? 1 : RolledHistory.ClosedMonths.Length, months.Count);
            rolledUpBefore = months.Count(m => m.RolledUpAt is not null);
        }

        var resumed = await RolledHistory.RunLifecycleAsync(app);

        // No month is rolled up twice: the second run counts only those the first had not rolled up.
        Assert.Equal(RolledHistory.ClosedMonths.Length - rolledUpBefore, resumed.MonthsRolledUp);
        await RolledHistory.AssertEndStateAsync(app, expected);
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_roll_up_multiplies_the_days_in_day_order_and_takes_the_first_opening_and_last_closing_whatever_order_they_were_written_in(
        DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        // Seven March closings: the first opens the account (no multiplier), each later one is a market move from the one before.
        long[] closings = [10_000_000, 10_300_001, 9_870_007, 10_111_113, 10_500_017, 9_990_001, 10_200_003];
        var days = Enumerable.Range(0, closings.Length).Select(i => new DateOnly(2025, 3, 3 + 3 * i)).ToArray();
        var multipliers = Enumerable.Range(1, closings.Length - 1).Select(i => (double)closings[i] / closings[i - 1]).ToArray();
        var inDayOrder = multipliers.Aggregate(1.0, (product, m) => product * m);
        // The test can tell the orders apart: these six multiplied newest first give other bits.
        Assert.NotEqual(BitConverter.DoubleToInt64Bits(inDayOrder), BitConverter.DoubleToInt64Bits(multipliers.Reverse().Aggregate(1.0, (p, m) => p * m)));
        var user = await app.AddUserAsync(AccountStatus.Active);
        await using (var db = app.Database.CreateContext())
        {
            // Written newest first, one statement each, so the table's own order (and the ids') is the reverse of the days'.
            DailyAssetSnapshot? newest = null;
            for (var i = closings.Length - 1; i >= 0; i--)
            {
                var snapshot = new DailyAssetSnapshot
                {
                    UserId = user, SnapshotDay = days[i], OpeningAmount = i == 0 ? closings[0] : closings[i - 1], ClosingAmount = closings[i],
                    MarketMultiplier = i == 0 ? null : multipliers[i - 1], MarketDelta = i == 0 ? 0 : closings[i] - closings[i - 1],
                    UpdatedAt = CoreServerApp.DefaultNow,
                };
                db.DailyAssetSnapshots.Add(snapshot);
                await db.SaveChangesAsync();
                newest ??= snapshot;
            }
            var owner = await db.Users.SingleAsync(u => u.Id == user);
            owner.PointAt(newest);
            await db.SaveChangesAsync();
        }

        var result = await RolledHistory.RunLifecycleAsync(app);

        Assert.Equal(1, result.RollupRowsWritten);
        await using var check = app.Database.CreateContext();
        var rollup = await check.AssetMonthRollups.AsNoTracking().SingleAsync();
        Assert.Equal((user, new DateOnly(2025, 3, 1), days[0], days[^1], closings.Length, closings[0], closings[^1], 0L),
            (rollup.UserId, rollup.Month, rollup.FirstDay, rollup.LastDay, rollup.Days, rollup.OpeningAmount, rollup.ClosingAmount, rollup.NetFlow));
        Assert.Equal(BitConverter.DoubleToInt64Bits(inDayOrder), BitConverter.DoubleToInt64Bits(rollup.MarketMultiplier));
    }

}

/// <summary>
/// A history over March to August 2025 with the clock on 2025-08-10 and <c>History:KeepDailyMonths</c> = 3: every closed
/// month, March to July, is rolled up; June, July and August stay daily, March to May are let go. Three active users refreshed on days in each month with rewards and penalties
/// between, and a dormant user whose pointer stays on an April day.
/// </summary>
public static class RolledHistory
{
    public static readonly DateOnly Today = new(2025, 8, 10);
    public static readonly DateOnly KeepFrom = new(2025, 6, 1);

    /// <summary>The month of <see cref="Today"/>: the months before it are closed, and rolled up.</summary>
    public static readonly DateOnly ThisMonth = new(2025, 8, 1);

    public static readonly DateOnly[] ClosedMonths = [new(2025, 3, 1), new(2025, 4, 1), new(2025, 5, 1), new(2025, 6, 1), new(2025, 7, 1)];

    public static readonly Dictionary<string, string?> Settings = new()
    {
        ["History:KeepDailyMonths"] = "3",
        ["History:DeleteBatchSize"] = "2",
    };

    private static readonly DateOnly[] RunDays =
    [
        new(2025, 3, 10), new(2025, 3, 25), new(2025, 4, 2), new(2025, 4, 20), new(2025, 5, 5), new(2025, 5, 28),
        new(2025, 6, 10), new(2025, 7, 1), new(2025, 8, 1),
    ];

    public sealed record Seeded(IReadOnlyList<long> Active, long Dormant);

    public sealed record Expected(IReadOnlyList<AssetMonthRollup> Rollups, IReadOnlyList<long> SnapshotIds, IReadOnlyList<long> ChangeIds,
        long SnapshotsDeleted, long ChangesDeleted);

    public static async Task<Seeded> SeedAsync(CoreServerApp app)
    {
        var client = app.CreateClient();
        var active = await app.AddActiveUsersAsync(3, new DateOnly(2025, 3, 3), 10_000_000);
        var dormant = await app.AddUserAsync(AccountStatus.Inactive, (new DateOnly(2025, 3, 5), 5_000_000), (new DateOnly(2025, 4, 7), 5_100_000));
        await AdjustAsync(client, dormant, 20_000, "dormant-reward");
        foreach (var day in RunDays)
        {
            var result = await client.RunDayAsync(day);
            Assert.Equal(3, result.Success);
            // Rewards and penalties land on the day just written: March to May's net flows, and one kept in July.
            if (day == new DateOnly(2025, 3, 10))
                await AdjustAsync(client, active[0], 100_000, "march-reward");
            if (day == new DateOnly(2025, 4, 20))
                await AdjustAsync(client, active[1], -50_000, "april-penalty");
            if (day == new DateOnly(2025, 5, 28))
            {
                await AdjustAsync(client, active[2], 7_000, "may-reward");
                await AdjustAsync(client, active[2], -3_000, "may-penalty");
            }
            if (day == new DateOnly(2025, 7, 1))
                await AdjustAsync(client, active[0], 1_000, "july-reward");
        }
        return new Seeded(active, dormant);
    }

    public static async Task AdjustAsync(HttpClient client, long userId, long amount, string key)
    {
        var response = await client.PostAsJsonAsync($"/internal/users/{userId}/asset-adjustments", new { amount, reason = "event", idempotencyKey = key });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>What the lifecycle should leave, worked out from the daily rows before it runs.</summary>
    public static async Task<Expected> ExpectedAsync(CoreServerApp app, Seeded seeded)
    {
        await using var db = app.Database.CreateContext();
        var snapshots = await db.DailyAssetSnapshots.AsNoTracking().OrderBy(s => s.UserId).ThenBy(s => s.SnapshotDay).ToListAsync();
        var changes = await db.AssetChanges.AsNoTracking().OrderBy(c => c.Id).ToListAsync();
        var current = (await db.Users.AsNoTracking().Select(u => u.CurrentSnapshotId).ToListAsync()).OfType<long>().ToHashSet();
        var rollups = snapshots.Where(s => s.SnapshotDay < ThisMonth)
            .GroupBy(s => (s.UserId, Month: new DateOnly(s.SnapshotDay.Year, s.SnapshotDay.Month, 1)))
            .Select(month => new AssetMonthRollup
            {
                UserId = month.Key.UserId, Month = month.Key.Month, FirstDay = month.First().SnapshotDay, LastDay = month.Last().SnapshotDay,
                Days = month.Count(), OpeningAmount = month.First().OpeningAmount, ClosingAmount = month.Last().ClosingAmount,
                NetFlow = month.Sum(s => s.NetFlow), MarketMultiplier = month.Aggregate(1.0, (product, s) => product * (s.MarketMultiplier ?? 1.0)),
            })
            .OrderBy(r => r.UserId).ThenBy(r => r.Month).ToList();
        Assert.Equal(17, rollups.Count); // 4 users in March and April (the dormant one too), 3 in May, June and July
        var keptSnapshots = snapshots.Where(s => s.SnapshotDay >= KeepFrom || current.Contains(s.Id)).Select(s => s.Id).Order().ToList();
        var keptChanges = changes.Where(c => c.SnapshotDay >= KeepFrom || current.Contains(c.SnapshotId)).Select(c => c.Id).Order().ToList();
        Assert.Contains(changes, c => c.UserId == seeded.Dormant && keptChanges.Contains(c.Id));
        Assert.True(changes.Count - keptChanges.Count >= 4, "the let-go months hold several change rows");
        return new Expected(rollups, keptSnapshots, keptChanges, snapshots.Count - keptSnapshots.Count, changes.Count - keptChanges.Count);
    }

    public static async Task<HistoryLifecycleResult> RunLifecycleAsync(CoreServerApp app, IProgress<HistoryLifecycleStep> progress, CancellationToken cancellationToken)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AssetHistoryLifecycle>().RunAsync(Today, progress, cancellationToken);
    }

    public static Task<HistoryLifecycleResult> RunLifecycleAsync(CoreServerApp app) => RunLifecycleAsync(app, new Steps(_ => { }), CancellationToken.None);

    /// <summary>
    /// Runs the lifecycle and cancels it as the first step of <paramref name="stage"/> is reported (March's, the oldest
    /// month's): that step committed, and the statement after it is the one cut off. Fails unless the run stopped there.
    /// </summary>
    public static async Task RunLifecycleStoppedAtAsync(CoreServerApp app, HistoryLifecycleStage stage)
    {
        using var stop = new CancellationTokenSource();
        var reported = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RunLifecycleAsync(app, new Steps(step =>
        {
            if (step.Stage == stage && ++reported == 1)
                stop.Cancel();
        }), stop.Token));
        Assert.Equal(1, reported);
    }

    /// <summary>Told of each step the lifecycle reports, synchronously.</summary>
    public sealed class Steps(Action<HistoryLifecycleStep> onStep) : IProgress<HistoryLifecycleStep>
    {
        public void Report(HistoryLifecycleStep value) => onStep(value);
    }

    public static async Task AssertEndStateAsync(CoreServerApp app, Expected expected)
    {
        await using var db = app.Database.CreateContext();
        var rollups = await db.AssetMonthRollups.AsNoTracking().OrderBy(r => r.UserId).ThenBy(r => r.Month).ToListAsync();
        Assert.Equal(expected.Rollups.Select(Figures), rollups.Select(Figures));
        Assert.Equal(expected.SnapshotIds, await db.DailyAssetSnapshots.AsNoTracking().Select(s => s.Id).OrderBy(id => id).ToListAsync());
        Assert.Equal(expected.ChangeIds, await db.AssetChanges.AsNoTracking().Select(c => c.Id).OrderBy(id => id).ToListAsync());
        var months = await db.AssetRolledUpMonths.AsNoTracking().OrderBy(m => m.Month).ToListAsync();
        Assert.Equal(ClosedMonths, months.Select(m => m.Month).ToList());
        Assert.All(months, m => Assert.NotNull(m.RolledUpAt));
        // Let go: sealed and their daily rows deleted; kept daily: neither.
        Assert.Equal(months.Select(m => m.Month < KeepFrom).ToList(), months.Select(m => m.SealedAt is not null).ToList());
        Assert.Equal(months.Select(m => m.Month < KeepFrom).ToList(), months.Select(m => m.DailyRowsDeletedAt is not null).ToList());
    }

    private static (long, DateOnly, DateOnly, DateOnly, int, long, long, long, double) Figures(AssetMonthRollup r) =>
        (r.UserId, r.Month, r.FirstDay, r.LastDay, r.Days, r.OpeningAmount, r.ClosingAmount, r.NetFlow, r.MarketMultiplier);
}
