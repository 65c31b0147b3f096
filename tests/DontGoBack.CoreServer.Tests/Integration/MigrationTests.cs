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

        var changes = await migrated.AssetChanges.AsNoTracking().OrderBy(c => c.SnapshotId).ToListAsync();
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
}
