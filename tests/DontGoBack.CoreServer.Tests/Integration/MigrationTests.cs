using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
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

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_half_set_pointer_is_mended_by_the_migration_and_refused_after_it(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using (var db = database.CreateContext())
        {
            await db.GetService<IMigrator>().MigrateAsync("MonthlyPartitions");
            // User 1: an id without its day (mended from the snapshot); 2: a day without an id (cleared); 3: whole.
            await db.Database.ExecuteSqlRawAsync("""
                INSERT INTO users (id, status, created_at, opening_day) VALUES
                    (1, 'ACTIVE', '2025-08-01 00:00:00+00:00', '2025-08-08'), (2, 'ACTIVE', '2025-08-01 00:00:00+00:00', '2025-08-08'),
                    (3, 'ACTIVE', '2025-08-01 00:00:00+00:00', '2025-08-08');
                INSERT INTO daily_asset_snapshots (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at) VALUES
                    (10, 1, '2025-08-08', 10000000, 10000000, NULL, 0, 0, '2025-08-08 00:00:00+00:00'),
                    (20, 2, '2025-08-08', 10000000, 10000000, NULL, 0, 0, '2025-08-08 00:00:00+00:00'),
                    (30, 3, '2025-08-08', 10000000, 10000000, NULL, 0, 0, '2025-08-08 00:00:00+00:00');
                UPDATE users SET current_snapshot_id = 10 WHERE id = 1;
                UPDATE users SET current_snapshot_day = '2025-08-08' WHERE id = 2;
                UPDATE users SET current_snapshot_id = 30, current_snapshot_day = '2025-08-08' WHERE id = 3;
                """);
            await db.Database.MigrateAsync();
        }

        await using var migrated = database.CreateContext();
        var pointers = await migrated.Users.AsNoTracking().OrderBy(u => u.Id).Select(u => new { u.CurrentSnapshotId, u.CurrentSnapshotDay }).ToListAsync();
        var day = new DateOnly(2025, 8, 8);
        Assert.Equal([new { CurrentSnapshotId = (long?)10, CurrentSnapshotDay = (DateOnly?)day }, new { CurrentSnapshotId = (long?)null, CurrentSnapshotDay = (DateOnly?)null },
            new { CurrentSnapshotId = (long?)30, CurrentSnapshotDay = (DateOnly?)day }], pointers);
        var halfSet = await Assert.ThrowsAnyAsync<Exception>(() => migrated.Users.Where(u => u.Id == 3)
            .ExecuteUpdateAsync(set => set.SetProperty(u => u.CurrentSnapshotId, (long?)null)));
        Assert.Contains(UserConfiguration.PointerWholeConstraint, halfSet.Message);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task The_engines_day_and_counters_migrate_in_place_keeping_every_row_and_figure(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using (var db = database.CreateContext())
        {
            await db.GetService<IMigrator>().MigrateAsync("NotDueCounts");
            // Today's schema: the engine's day is snapshot_day, the asset refresh's re-based counts its own columns.
            // Run 1 took two attempts (its counts are the latest's); run 2 is another job's, with none; run 3 was
            // clustered, its partitions re-basing apart. A user's sound history, for verify to go over.
            await db.Database.ExecuteSqlRawAsync("""
                INSERT INTO users (id, status, created_at, opening_day) VALUES (1, 'ACTIVE', '2025-08-01 00:00:00+00:00', '2025-08-08');
                INSERT INTO daily_asset_snapshots (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at) VALUES
                    (10, 1, '2025-08-08', 10000000, 10000000, NULL, 0, 0, '2025-08-08 00:00:00+00:00'),
                    (11, 1, '2025-08-09', 10000000, 10600000, 1.01, 100000, 500000, '2025-08-09 00:00:00+00:00');
                UPDATE users SET current_snapshot_id = 11 WHERE id = 1;
                INSERT INTO asset_changes (id, user_id, kind, amount_before, amount_after, delta, reason, snapshot_id, snapshot_day, changed_at) VALUES
                    (100, 1, 'Opening', 0, 10000000, 10000000, 'demo opening', 10, '2025-08-08', '2025-08-08 00:00:00+00:00'),
                    (101, 1, 'Reward', 10100000, 10600000, 500000, 'quiz', 11, '2025-08-09', '2025-08-09 01:00:00+00:00');
                INSERT INTO batch_runs (id, job_name, snapshot_day, status, started_at, finished_at, heartbeat_at, nodes, attempts, total, success, skipped, failed, rebased_users, rebased_days) VALUES
                    (1, 'asset-refresh', '2025-08-09', 'Completed', '2025-08-09 18:00:00+00:00', '2025-08-09 18:01:00+00:00', '2025-08-09 18:01:00+00:00', 'a', 2, 40, 4, 36, 0, 3, 12),
                    (2, 'user-dormancy', '2025-08-09', 'Completed', '2025-08-09 17:59:00+00:00', '2025-08-09 17:59:30+00:00', '2025-08-09 17:59:30+00:00', 'a', 1, 40, 1, 39, 0, 0, 0),
                    (3, 'asset-refresh', '2025-08-10', 'CompletedWithFailures', '2025-08-10 18:00:00+00:00', '2025-08-10 18:02:00+00:00', '2025-08-10 18:02:00+00:00', 'a,b', 1, 40, 38, 0, 2, 2, 5);
                INSERT INTO batch_run_attempts (run_id, attempt, status, started_at, node, updated_at, finished_at, expected, total, success, skipped, failed, not_due) VALUES
                    (1, 1, 'CompletedWithFailures', '2025-08-09 17:00:00+00:00', 'a', '2025-08-09 17:01:00+00:00', '2025-08-09 17:01:00+00:00', 40, 40, 36, 0, 4, 0),
                    (1, 2, 'Completed', '2025-08-09 18:00:00+00:00', 'a', '2025-08-09 18:01:00+00:00', '2025-08-09 18:01:00+00:00', 4, 40, 4, 36, 0, 0),
                    (2, 1, 'Completed', '2025-08-09 17:59:00+00:00', 'a', '2025-08-09 17:59:30+00:00', '2025-08-09 17:59:30+00:00', 40, 40, 1, 39, 0, 0),
                    (3, 1, 'CompletedWithFailures', '2025-08-10 18:00:00+00:00', 'a', '2025-08-10 18:02:00+00:00', '2025-08-10 18:02:00+00:00', 40, 40, 38, 0, 2, 0);
                INSERT INTO batch_run_partitions (run_id, partition_no, first_user_id, last_user_id, status, node, expected, total, success, skipped, failed, not_due, rebased_users, rebased_days, finished_at) VALUES
                    (3, 0, 1, 20, 'Done', 'a', 20, 20, 19, 0, 1, 0, 1, 2, '2025-08-10 18:01:00+00:00'),
                    (3, 1, 21, 40, 'Done', 'b', 20, 20, 19, 0, 1, 0, 1, 3, '2025-08-10 18:02:00+00:00');
                INSERT INTO batch_alerts (id, job_name, snapshot_day, condition, kind, created_at, node, payload, delivery, attempts, next_attempt_at) VALUES
                    (1, 'asset-refresh', '2025-08-10', 'LowSuccessRatio', 'Raised', '2025-08-10 21:00:00+00:00', 'a', 'the day below its success ratio', 'NoWebhook', 0, '2025-08-10 21:00:00+00:00');
                INSERT INTO operator_actions (id, at, action, job_name, run_id, snapshot_day, address, token_name, reason, outcome, detail) VALUES
                    (1, '2025-08-09 17:30:00+00:00', 'Retry', 'asset-refresh', 1, '2025-08-09', '10.0.0.1', 'admin', 'flaky', 'Accepted', 'started'),
                    (2, '2025-08-09 17:31:00+00:00', 'Pause', 'asset-refresh', NULL, NULL, '10.0.0.1', 'admin', 'quiet', 'Accepted', NULL);
                """);
            await db.Database.MigrateAsync();
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        }

        await using var migrated = database.CreateContext();
        var runs = await migrated.BatchRuns.AsNoTracking().OrderBy(r => r.Id).ToListAsync();
        Assert.Equal(
            [(1L, "asset-refresh", new DateOnly(2025, 8, 9), BatchRunStatus.Completed, 2, 40, 4, 36, 0),
             (2L, "user-dormancy", new DateOnly(2025, 8, 9), BatchRunStatus.Completed, 1, 40, 1, 39, 0),
             (3L, "asset-refresh", new DateOnly(2025, 8, 10), BatchRunStatus.CompletedWithFailures, 1, 40, 38, 0, 2)],
            runs.Select(r => (r.Id, r.JobName, r.Day, r.Status, r.Attempts, r.Total, r.Success, r.Skipped, r.Failed)));
        // The re-based counts are the job's counters now, as the asset refresh reads them; a run with none has none.
        Assert.Equal([new AssetRefreshCounters(3, 12), null, new AssetRefreshCounters(2, 5)],
            runs.Select(r => r.Counters is null ? null : BatchCounters.FromJson(r.Counters).As<AssetRefreshCounters>()));
        var partitions = await migrated.BatchRunPartitions.AsNoTracking().OrderBy(p => p.PartitionNo).ToListAsync();
        Assert.Equal([(19, 1, new AssetRefreshCounters(1, 2)), (19, 1, new AssetRefreshCounters(1, 3))],
            partitions.Select(p => (p.Success, p.Failed, BatchCounters.FromJson(p.Counters).As<AssetRefreshCounters>())));

        // A run's counts were its latest outcome's: that attempt carries them, so the day (summed over its attempts) reads as before.
        var attempts = (await migrated.BatchRunAttempts.AsNoTracking().OrderBy(a => a.RunId).ThenBy(a => a.Attempt).ToListAsync()).ToLookup(a => a.RunId);
        Assert.Equal([BatchCounters.None, BatchCounters.Of(new AssetRefreshCounters(3, 12))], attempts[1].Select(a => BatchCounters.FromJson(a.Counters)));
        Assert.Equal([(40, 36, 4), (4, 4, 0)], attempts[1].Select(a => (a.Expected, a.Success, a.Failed)));
        var days = runs.Select(r => RunDayView.Of(r, attempts[r.Id].ToList())).ToList();
        Assert.Equal(["re-based 12 later days of 3 users", null, "re-based 5 later days of 2 users"],
            days.Select(d => AssetRefreshJob.Definition.Describe(d.Counters)));
        Assert.Equal([40, 1, 38], days.Select(d => d.Written));

        var alert = await migrated.DeadlineAlerts.AsNoTracking().SingleAsync();
        Assert.Equal(("asset-refresh", new DateOnly(2025, 8, 10), DeadlineCondition.LowSuccessRatio), (alert.JobName, alert.Day, alert.Condition));
        Assert.Equal([(1L, (DateOnly?)new DateOnly(2025, 8, 9), (long?)1), (2L, null, null)],
            (await migrated.OperatorActions.AsNoTracking().OrderBy(a => a.Id).ToListAsync()).Select(a => (a.Id, a.Day, a.RunId)));
        // Renamed in place: the old names are gone, the re-based columns with them.
        foreach (var gone in new[] { "SELECT snapshot_day FROM batch_runs", "SELECT snapshot_day FROM batch_alerts", "SELECT snapshot_day FROM operator_actions",
                     "SELECT rebased_users FROM batch_runs", "SELECT rebased_days FROM batch_run_partitions" })
            await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => migrated.Database.ExecuteSqlRawAsync(gone));

        // The server over the migrated database: verify finds the history sound, `runs` shows the day's re-basing as before.
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = database.Provider.ToString(),
            ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
        };
        var workingDirectory = Directory.CreateTempSubdirectory("dontgoback-migration-").FullName;
        try
        {
            var verify = await CoreServerProcess.RunAsync(settings, ["verify"], workingDirectory);
            Assert.True(verify.ExitCode == 0, verify.Output);
            Assert.StartsWith("0 breaks of the chain rule", verify.StandardOutput[^1]);
            var listed = await CoreServerProcess.RunAsync(settings, ["runs", "--job", "asset-refresh"], workingDirectory);
            Assert.True(listed.ExitCode == 0, listed.Output);
            Assert.Contains(listed.StandardOutput, line => line.StartsWith("| 1 | 2025-08-09 | completed |", StringComparison.Ordinal)
                                                          && line.Contains("| re-based 12 later days of 3 users |", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(workingDirectory, recursive: true);
        }
    }
}
