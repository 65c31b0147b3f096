using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class MigrationTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Asset_history_moves_into_daily_snapshots_and_changes_without_losing_a_row(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using (var db = database.CreateContext())
        {
            await db.GetService<IMigrator>().MigrateAsync("InitialSchema");
            // The first schema's shape: one row per user and day, the user pointing at the latest.
            await db.Database.ExecuteSqlRawAsync("""
                INSERT INTO users (id, status, created_at) VALUES (1, 'ACTIVE', '2025-08-01 00:00:00+00'), (2, 'SUSPENDED', '2025-08-01 00:00:00+00');
                INSERT INTO asset_history (id, user_id, amount, multiplier, snapshot_day, changed_at) VALUES
                    (10, 1, 10000000, 1.0, '2025-08-08', '2025-08-08 00:00:00+00'),
                    (11, 1, 10100000, 1.01, '2025-08-09', '2025-08-09 00:00:00+00'),
                    (12, 1, 9999000, 0.99, '2025-08-10', '2025-08-10 00:00:00+00'),
                    (20, 2, 5000000, 1.0, '2025-08-09', '2025-08-09 00:00:00+00');
                UPDATE users SET current_asset_history_id = 12 WHERE id = 1;
                UPDATE users SET current_asset_history_id = 20 WHERE id = 2;
                """);
            await db.Database.MigrateAsync();
        }

        await using var migrated = database.CreateContext();
        var snapshots = await migrated.DailyAssetSnapshots.AsNoTracking().OrderBy(s => s.Id).ToListAsync();
        Assert.Equal([10L, 11, 12, 20], snapshots.Select(s => s.Id));
        Assert.Equal((10_000_000L, 10_000_000L, (double?)null, 0L), (snapshots[0].OpeningAmount, snapshots[0].ClosingAmount, snapshots[0].MarketMultiplier, snapshots[0].MarketDelta));
        Assert.Equal((10_000_000L, 10_100_000L, (double?)1.01, 100_000L), (snapshots[1].OpeningAmount, snapshots[1].ClosingAmount, snapshots[1].MarketMultiplier, snapshots[1].MarketDelta));
        Assert.Equal((10_100_000L, 9_999_000L, -101_000L), (snapshots[2].OpeningAmount, snapshots[2].ClosingAmount, snapshots[2].MarketDelta));
        Assert.All(snapshots, s => Assert.Equal(0, s.NetFlow));

        var history = new AssetChangeHistory(migrated);
        var changes = (await history.OfUserAsync(1, CancellationToken.None)).Concat(await history.OfUserAsync(2, CancellationToken.None)).ToList();
        Assert.Equal([10L, 11, 12, 20], changes.Select(c => c.SnapshotId));
        Assert.Equal([AssetChangeKind.Opening, AssetChangeKind.Market, AssetChangeKind.Market, AssetChangeKind.Opening], changes.Select(c => c.Kind));
        Assert.Equal((10_100_000L, 9_999_000L), (changes[2].AmountBefore, changes[2].AmountAfter));

        var pointers = await migrated.Users.AsNoTracking().OrderBy(u => u.Id)
            .Select(u => u.CurrentSnapshot!.SnapshotDay).ToListAsync();
        Assert.Equal([new DateOnly(2025, 8, 10), new DateOnly(2025, 8, 9)], pointers);

        // New snapshots get ids past the moved ones.
        migrated.DailyAssetSnapshots.Add(new DailyAssetSnapshot { UserId = 2, SnapshotDay = new DateOnly(2025, 8, 10), OpeningAmount = 1, ClosingAmount = 1 });
        await migrated.SaveChangesAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Lean_history_drops_the_market_rows_and_the_history_reads_as_before(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using (var db = database.CreateContext())
        {
            await db.GetService<IMigrator>().MigrateAsync("ChainRebaseAndOpeningDay");
            // As the refresh wrote it before: a market row per day beside the snapshot. User 1 in
            // order with a reward and a penalty; user 2's 08-10 written before its 08-09, re-based.
            await db.Database.ExecuteSqlRawAsync("""
                INSERT INTO users (id, status, created_at, opening_day) VALUES
                    (1, 'ACTIVE', '2025-08-01 00:00:00+00:00', '2025-08-08'), (2, 'ACTIVE', '2025-08-01 00:00:00+00:00', '2025-08-08');
                INSERT INTO daily_asset_snapshots (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at) VALUES
                    (10, 1, '2025-08-08', 10000000, 10000000, NULL, 0, 0, '2025-08-08 00:00:00+00:00'),
                    (11, 1, '2025-08-09', 10000000, 10600000, 1.01, 100000, 500000, '2025-08-09 00:00:00+00:00'),
                    (12, 1, '2025-08-10', 10600000, 10400000, 0.99, -106000, -94000, '2025-08-10 00:00:00+00:00'),
                    (20, 2, '2025-08-08', 10000000, 10000000, NULL, 0, 0, '2025-08-08 00:00:00+00:00'),
                    (21, 2, '2025-08-10', 9800000, 9996000, 1.02, 196000, 0, '2025-08-11 00:00:00+00:00'),
                    (22, 2, '2025-08-09', 10000000, 9800000, 0.98, -200000, 0, '2025-08-11 00:00:00+00:00');
                UPDATE users SET current_snapshot_id = 12 WHERE id = 1;
                UPDATE users SET current_snapshot_id = 21 WHERE id = 2;
                INSERT INTO asset_changes (id, user_id, kind, amount_before, amount_after, delta, reason, snapshot_id, snapshot_day, changed_at) VALUES
                    (100, 1, 'Opening', 0, 10000000, 10000000, 'demo opening', 10, '2025-08-08', '2025-08-08 00:00:00+00:00'),
                    (101, 2, 'Opening', 0, 10000000, 10000000, 'demo opening', 20, '2025-08-08', '2025-08-08 00:00:00+00:00'),
                    (102, 1, 'Market', 10000000, 10100000, 100000, NULL, 11, '2025-08-09', '2025-08-09 00:00:00+00:00'),
                    (103, 1, 'Reward', 10100000, 10600000, 500000, 'quiz', 11, '2025-08-09', '2025-08-09 01:00:00+00:00'),
                    (104, 2, 'Market', 10000000, 10200000, 200000, NULL, 21, '2025-08-10', '2025-08-10 00:00:00+00:00'),
                    (105, 1, 'Market', 10600000, 10494000, -106000, NULL, 12, '2025-08-10', '2025-08-10 00:00:00+00:00'),
                    (106, 1, 'Penalty', 10494000, 10400000, -94000, 'spam', 12, '2025-08-10', '2025-08-10 01:00:00+00:00'),
                    (107, 2, 'Rebase', 10200000, 9996000, -204000,
                     'market move of 2025-08-09 (x0.98) written after later days; re-based 1 day(s) 2025-08-10..2025-08-10', 21, '2025-08-10', '2025-08-11 00:00:00+00:00');
                """);
        }
        List<(AssetChangeKind, long, long, long, long, DateOnly)> before;
        await using (var db = database.CreateContext())
        {
            before = (await db.AssetChanges.AsNoTracking().OrderBy(c => c.UserId).ThenBy(c => c.Id).ToListAsync())
                .Select(c => (c.Kind, c.AmountBefore, c.AmountAfter, c.Delta, c.SnapshotId, c.SnapshotDay)).ToList();
            await db.Database.MigrateAsync();
        }

        await using var migrated = database.CreateContext();
        Assert.Equal(5, await migrated.AssetChanges.CountAsync());
        Assert.False(await migrated.AssetChanges.AnyAsync(c => c.Kind == AssetChangeKind.Market));
        var history = new AssetChangeHistory(migrated);
        var after = (await history.OfUserAsync(1, CancellationToken.None)).Concat(await history.OfUserAsync(2, CancellationToken.None))
            .Select(c => (c.Kind, c.AmountBefore, c.AmountAfter, c.Delta, c.SnapshotId, c.SnapshotDay)).ToList();
        Assert.Equal(before, after);
        await database.AssertChainHoldsAsync();
    }
}
