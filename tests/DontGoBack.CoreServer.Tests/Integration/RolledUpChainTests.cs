using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary><c>verify</c> checks the chain across the roll-ups: roll-up to roll-up, the last roll-up to the first daily row after it, and a roll-up of a month still daily against its days (issue 27).</summary>
public sealed class RolledUpChainTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Verify_finds_no_break_on_an_intact_rolled_up_history_and_one_break_in_each_place_broken_by_hand(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        var history = await RolledHistory.SeedAsync(app);
        await RolledHistory.RunLifecycleAsync(app);
        Assert.Empty(await BreaksAsync(database));
        var (april, july) = (new DateOnly(2025, 4, 1), new DateOnly(2025, 7, 1));

        // A roll-up that does not open where the month before closed.
        var march = await RollupAsync(database, history.Active[0], new DateOnly(2025, 3, 1));
        await ShiftAsync(database, history.Active[0], april, opening: 1);

        var broken = Assert.Single(await BreaksAsync(database));
        Assert.Equal(new ChainBreak(history.Active[0], april, "rollup_opening", march.ClosingAmount, (await RollupAsync(database, history.Active[0], april)).OpeningAmount), broken);

        await ShiftAsync(database, history.Active[0], april, opening: -1);
        Assert.Empty(await BreaksAsync(database));

        // The last roll-up (July's: every closed month is rolled up) closing where the first daily row after it does not open.
        await ShiftAsync(database, history.Active[1], july, closing: 1);
        var august = (await app.SnapshotsOfAsync(history.Active[1])).First(s => s.SnapshotDay >= RolledHistory.ThisMonth);

        // July still has its days (kept daily, not sealed): its roll-up no longer says what they say either.
        var july1 = await RollupAsync(database, history.Active[1], july);
        Assert.Equal(
            [
                new ChainBreak(history.Active[1], july, "rollup_closing", july1.ClosingAmount - 1, july1.ClosingAmount),
                new ChainBreak(history.Active[1], august.SnapshotDay, "opening_after_rollup", august.OpeningAmount + 1, august.OpeningAmount),
            ],
            await BreaksAsync(database));
        await ShiftAsync(database, history.Active[1], july, closing: -1);
        Assert.Empty(await BreaksAsync(database));

        // A kept month's roll-up that counts other days or another net flow than its days; and one missing.
        var june = new DateOnly(2025, 6, 1);
        await ShiftAsync(database, history.Active[2], june, days: 1, netFlow: -5);
        var june2 = await RollupAsync(database, history.Active[2], june);
        Assert.Equal(
            [
                new ChainBreak(history.Active[2], june, "rollup_days", june2.Days - 1, june2.Days),
                new ChainBreak(history.Active[2], june, "rollup_net_flow", june2.NetFlow + 5, june2.NetFlow),
            ],
            await BreaksAsync(database));
        await using (var db = database.CreateContext())
            Assert.Equal(1, await db.AssetMonthRollups.Where(r => r.UserId == history.Active[2] && r.Month == june).ExecuteDeleteAsync());
        // July's roll-up now follows May's: its opening is compared with May's closing.
        var (may, july2) = (await RollupAsync(database, history.Active[2], new DateOnly(2025, 5, 1)), await RollupAsync(database, history.Active[2], july));
        Assert.Equal(
            [
                new ChainBreak(history.Active[2], june, "rollup_days", june2.Days - 1, null),
                new ChainBreak(history.Active[2], july, "rollup_opening", may.ClosingAmount, july2.OpeningAmount),
            ],
            await BreaksAsync(database));
    }

    private static async Task<List<ChainBreak>> BreaksAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        // Two users a statement: the four users' checks span pages.
        var check = await new AssetChainVerifier(db) { UsersPerStatement = 2 }.CheckAsync(DateOnly.MinValue, DateOnly.MaxValue, 10, CancellationToken.None);
        Assert.Equal(check.Total, check.First.Count);
        return check.First.ToList();
    }

    private static async Task<AssetMonthRollup> RollupAsync(TestDatabase database, long userId, DateOnly month)
    {
        await using var db = database.CreateContext();
        return await db.AssetMonthRollups.AsNoTracking().SingleAsync(r => r.UserId == userId && r.Month == month);
    }

    private static async Task ShiftAsync(TestDatabase database, long userId, DateOnly month, long opening = 0, long closing = 0, int days = 0, long netFlow = 0)
    {
        await using var db = database.CreateContext();
        Assert.Equal(1, await db.AssetMonthRollups.Where(r => r.UserId == userId && r.Month == month)
            .ExecuteUpdateAsync(r => r.SetProperty(x => x.OpeningAmount, x => x.OpeningAmount + opening).SetProperty(x => x.ClosingAmount, x => x.ClosingAmount + closing)
                .SetProperty(x => x.Days, x => x.Days + days).SetProperty(x => x.NetFlow, x => x.NetFlow + netFlow)));
    }
}
