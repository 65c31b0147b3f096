using DontGoBack.Batch.Storage;
using DontGoBack.BenchSeed;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The read bench's seeder (bench/DontGoBack.BenchSeed) writes months already rolled up exactly as the history lifecycle
/// leaves them (issue 27), so the bench measures the graph over the data production would hold: the same history seeded
/// day by day and let go by <see cref="AssetHistoryLifecycle"/> ends up row for row as the one seeded with its roll-ups,
/// the closed months it keeps daily rolled up early included. PostgreSQL only, as the seeder is (binary COPY).
/// </summary>
public sealed class BenchRolledUpSeedTests
{
    private const int Users = 30;
    /// <summary>Users 1 to 19 ACTIVE (id % 100 below it), 20 to 30 not.</summary>
    private const int ActivePercent = 20;
    private static readonly DateOnly Opening = new(2025, 1, 1);
    private static readonly DateOnly LastDay = new(2025, 5, 10);

    /// <summary>
    /// With two months kept on <see cref="LastDay"/>, April and May stay daily and January to March are let go; April, closed,
    /// is rolled up all the same.
    /// </summary>
    private static readonly Dictionary<string, string?> KeepTwoMonths = new() { ["History:KeepDailyMonths"] = "2" };

    /// <summary>Nothing let go on <see cref="LastDay"/>: January to April are rolled up as closed months and keep their days.</summary>
    private static readonly Dictionary<string, string?> KeepEveryMonth = new() { ["History:KeepDailyMonths"] = "60" };

    [Fact]
    public async Task Seeded_roll_ups_are_what_the_lifecycle_leaves_of_the_same_history_and_the_chain_and_the_graph_hold()
    {
        var dailyFrom = new DateOnly(2025, 4, 1);
        await AssertSeededAsLifecycleLeavesAsync(KeepTwoMonths, seeder => seeder.SeedRolledUpAsync(Users, ActivePercent, Opening, rolledUpMonths: 3,
            LastDay.DayNumber - dailyFrom.DayNumber + 1, rollUpClosedMonths: true, CancellationToken.None));
    }

    [Fact]
    public async Task Seeded_early_roll_ups_of_months_kept_daily_are_what_the_lifecycle_rolls_up_as_they_close()
    {
        await AssertSeededAsLifecycleLeavesAsync(KeepEveryMonth, seeder => seeder.SeedAsync(Users, ActivePercent, Opening,
            LastDay.DayNumber - Opening.DayNumber + 1, rollUpClosedMonths: true, CancellationToken.None));
    }

    /// <summary>
    /// The history seeded day by day and run through the lifecycle on <see cref="LastDay"/> with <paramref name="settings"/>,
    /// against the same history seeded by <paramref name="seed"/>: the same rows in every table and the same month graphs.
    /// </summary>
    private static async Task AssertSeededAsLifecycleLeavesAsync(Dictionary<string, string?> settings, Func<HistoryCopy, Task> seed)
    {
        await using var daily = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var rolled = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var dailyApp = new CoreServerApp(daily, settings);
        await using var rolledApp = new CoreServerApp(rolled, settings);
        // Started, so each database has the schema before the seeder writes into it.
        _ = dailyApp.Services;
        _ = rolledApp.Services;

        await SeedAsync(daily, seeder => seeder.SeedAsync(Users, ActivePercent, Opening, LastDay.DayNumber - Opening.DayNumber + 1, CancellationToken.None));
        await using (var scope = dailyApp.Services.CreateAsyncScope())
        {
            var result = await scope.ServiceProvider.GetRequiredService<AssetHistoryLifecycle>()
                .RunAsync(LastDay, new Progress<HistoryLifecycleStep>(), CancellationToken.None);
            // Every month closed on the last day, January to April, let go or not.
            Assert.Equal(4, result.MonthsRolledUp);
        }
        await SeedAsync(rolled, seed);

        var (expected, seeded) = (await ContentsAsync(daily), await ContentsAsync(rolled));
        // Not vacuous: every active user's four months, the other users' opening month, rewards rolled up and kept daily.
        Assert.Equal(19 * 4 + 11, expected.Rollups.Count);
        Assert.Contains(expected.Rollups, r => r.NetFlow > 0);
        Assert.Contains(expected.Changes, c => c.Kind == nameof(AssetChangeKind.Reward));
        Assert.Contains(expected.Months, m => m is { RolledUp: true, Sealed: false, DailyRowsDeleted: false });
        Assert.Equal(expected.Rollups, seeded.Rollups);
        Assert.Equal(expected.Months, seeded.Months);
        Assert.Equal(expected.Snapshots, seeded.Snapshots);
        Assert.Equal(expected.Changes, seeded.Changes);
        Assert.Equal(expected.Users, seeded.Users);
        await rolled.AssertChainHoldsAsync();

        // The profile graph's month view over both layers reads the same bytes from either database.
        var (fromDaily, fromRolled) = (dailyApp.CreateClient(), rolledApp.CreateClient());
        foreach (var user in new[] { 1L, 10L, 19L })
        {
            var path = $"/api/users/{user}/asset-series?interval=month&from={Opening:yyyy-MM-dd}&to={LastDay:yyyy-MM-dd}";
            var body = await fromDaily.GetStringAsync(path);
            Assert.Contains("\"2025-01-01\"", body, StringComparison.Ordinal);
            Assert.Equal(body, await fromRolled.GetStringAsync(path));
        }
    }

    /// <summary>
    /// On PostgreSQL's monthly partitions the seeded history lies as a server that ran through its days left it: a partition
    /// per month of both tables, named as <see cref="HistoryPartitions.PartitionName"/> names them (so history-maintenance
    /// finds and drops them), the two months after the last created ahead, and no row in the default partitions.
    /// </summary>
    [Fact]
    public async Task Seeded_and_appended_days_lie_in_a_partition_per_month_and_none_in_the_default_partitions()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database);
        _ = app.Services;

        // Months long before the migration's three (it creates this month and the next two).
        await SeedAsync(database, seeder => seeder.SeedAsync(Users, ActivePercent, Opening, days: 40, CancellationToken.None));
        await SeedAsync(database, seeder => seeder.AppendAsync(Opening.AddDays(40), days: 60, withMarketChanges: false, CancellationToken.None));

        var lastDay = Opening.AddDays(99);
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        foreach (var table in new[] { HistoryPartitions.SnapshotTable, HistoryPartitions.ChangeTable })
        {
            for (var month = Opening; month <= new DateOnly(lastDay.Year, lastDay.Month, 1).AddMonths(HistoryPartitions.MonthsAhead); month = month.AddMonths(1))
                Assert.True(await ScalarAsync<bool>(connection, $"SELECT to_regclass('{HistoryPartitions.PartitionName(table, month)}') IS NOT NULL"), $"{table} has no partition for {month:yyyy-MM}");
            Assert.Equal(0L, await ScalarAsync<long>(connection, $"SELECT count(*) FROM {HistoryPartitions.DefaultPartitionName(table)}"));
        }
        // The indexes the load dropped are rebuilt on every partition: none left invalid (the refresh's ON CONFLICT needs them).
        Assert.Equal(0L, await ScalarAsync<long>(connection, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"));
        Assert.True(await ScalarAsync<bool>(connection, $"""
            SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = '{HistoryPartitions.PartitionName(HistoryPartitions.SnapshotTable, new DateOnly(2025, 3, 1))}'
                                                      AND indexdef LIKE '%UNIQUE%(user_id, snapshot_day)%')
            """));
        // Not vacuous: every active user's 100 days are in the table, and March's partition holds its 31 of them.
        Assert.Equal(19L * 100 + 11, await ScalarAsync<long>(connection, "SELECT count(*) FROM daily_asset_snapshots"));
        Assert.Equal(19L * 31, await ScalarAsync<long>(connection, $"SELECT count(*) FROM {HistoryPartitions.PartitionName(HistoryPartitions.SnapshotTable, new DateOnly(2025, 3, 1))}"));
        await database.AssertChainHoldsAsync();
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task SeedAsync(TestDatabase database, Func<HistoryCopy, Task> seed)
    {
        await using var source = NpgsqlDataSource.Create(database.ConnectionString);
        await seed(new HistoryCopy(source, _ => { }));
    }

    private sealed record Contents(
        List<(long UserId, DateOnly Month, DateOnly FirstDay, DateOnly LastDay, int Days, long Opening, long Closing, long NetFlow, double Multiplier)> Rollups,
        List<(DateOnly Month, long Users, bool RolledUp, bool Sealed, bool DailyRowsDeleted)> Months,
        List<(long, DateOnly, long, long, double?, long, long)> Snapshots,
        List<(long User, DateOnly Day, string Kind, long Before, long After, string? Reason)> Changes,
        List<(long, string, DateOnly, DateOnly?)> Users);

    /// <summary>Every row either way, without the ids the two loads number differently (the pointer by its snapshot's day).</summary>
    private static async Task<Contents> ContentsAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        var rollups = (await db.AssetMonthRollups.AsNoTracking().OrderBy(r => r.UserId).ThenBy(r => r.Month).ToListAsync())
            .Select(r => (r.UserId, r.Month, r.FirstDay, r.LastDay, r.Days, r.OpeningAmount, r.ClosingAmount, r.NetFlow, r.MarketMultiplier)).ToList();
        var months = (await db.AssetRolledUpMonths.AsNoTracking().OrderBy(m => m.Month).ToListAsync())
            .Select(m => (m.Month, m.Users, m.RolledUpAt is not null, m.SealedAt is not null, m.DailyRowsDeletedAt is not null)).ToList();
        var snapshots = (await db.DailyAssetSnapshots.AsNoTracking().OrderBy(s => s.UserId).ThenBy(s => s.SnapshotDay).ToListAsync())
            .Select(s => (s.UserId, s.SnapshotDay, s.OpeningAmount, s.ClosingAmount, s.MarketMultiplier, s.MarketDelta, s.NetFlow)).ToList();
        var changes = (await db.AssetChanges.AsNoTracking().OrderBy(c => c.UserId).ThenBy(c => c.Id).ToListAsync())
            .Select(c => (c.UserId, c.SnapshotDay, c.Kind.ToString(), c.AmountBefore, c.AmountAfter, c.Reason)).ToList();
        var users = await db.Users.AsNoTracking().OrderBy(u => u.Id)
            .Select(u => new
            {
                u.Id, u.Status, u.OpeningDay,
                Current = db.DailyAssetSnapshots.Where(s => s.Id == u.CurrentSnapshotId).Select(s => (DateOnly?)s.SnapshotDay).FirstOrDefault(),
            })
            .ToListAsync();
        return new Contents(rollups, months, snapshots, changes, users.Select(u => (u.Id, u.Status.ToString(), u.OpeningDay, u.Current)).ToList());
    }
}
