using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.User;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// Work plans come from the ids that exist, not from arithmetic over the lowest to the highest:
/// a few users with ids far apart (up to both ends of a 64-bit id) make a plan of a few slices or
/// partitions, and each of them is worked on once.
/// </summary>
public sealed class SparseUserIdTests
{
    /// <summary>CoreServerApp's pinned clock is 09:00 on this day in Seoul.</summary>
    private static readonly DateOnly Day = new(2025, 8, 10);

    /// <summary>Ids thousands apart, not so far that a plan by arithmetic takes long to make: it has five ranges of 5000 ids where one does.</summary>
    private static readonly long[] FarApart = [1, 2, 3, 20_001];

    /// <summary>Both ends of the id type, zero and negative ids among them: planning by arithmetic never ends here.</summary>
    private static readonly long[] Extremes = [long.MinValue, -5, 0, 1, 2, 9_000_000_000_000_000_000, long.MaxValue];

    public static TheoryData<DatabaseProvider, string> ProvidersAndIds => new()
    {
        { DatabaseProvider.Sqlite, nameof(FarApart) },
        { DatabaseProvider.Sqlite, nameof(Extremes) },
        { DatabaseProvider.Postgres, nameof(FarApart) },
        { DatabaseProvider.Postgres, nameof(Extremes) },
    };

    [Theory]
    [MemberData(nameof(ProvidersAndIds))]
    public async Task A_dormancy_run_over_sparse_ids_takes_a_slice_per_5000_users_that_exist_and_changes_each_once(
        DatabaseProvider provider, string idSet)
    {
        var ids = IdsOf(idSet);
        var watch = new CommandWatch();
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database) { TestServices = watch.On(provider) };
        var client = app.CreateClient();
        await PlaceUsersAsync(app, ids, dormant: true, Day);

        var result = await RefreshRuns.ResultOfAsync(
            await client.PostAsync($"/internal/batch/user-dormancy/runs?day={Day:yyyy-MM-dd}", null).WaitAsync(TimeSpan.FromSeconds(60)));

        // One statement per slice writes its users' status changes.
        var slices = watch.Count(sql => sql.Contains("INSERT INTO user_status_changes", StringComparison.Ordinal));
        Assert.True(slices <= Bound(ids.Length, UserDormancyJob.SliceSize), $"{slices} slices planned for {ids.Length} users");
        Assert.True(result.Status == BatchRunStatus.Completed, $"{result.Status}: {result.Error}");
        Assert.Equal((ids.Length, ids.Length), (result.Total, result.Success));
        await AssertEachChangedOnceAsync(app, ids);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_asset_refresh_over_ids_at_both_ends_refreshes_each_user_once(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        await PlaceUsersAsync(app, Extremes, dormant: false, Day);

        var result = await client.RunDayAsync(Day).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(result.Status == BatchRunStatus.Completed, $"{result.Status}: {result.Error}");
        Assert.Equal((Extremes.Length, Extremes.Length), (result.Total, result.Success));
        await AssertEachRefreshedOnceAsync(app, Extremes, Day);

        // verify walks the same ids: a break at either end of the id range is found, and nothing else.
        await database.AssertChainHoldsAsync();
        await using var db = database.CreateContext();
        foreach (var broken in new[] { long.MinValue, 0, long.MaxValue })
        {
            await db.DailyAssetSnapshots.Where(s => s.UserId == broken && s.SnapshotDay == Day)
                .ExecuteUpdateAsync(set => set.SetProperty(s => s.ClosingAmount, s => s.ClosingAmount + 1));
        }
        var check = await new Domain.Assets.AssetChainVerifier(db) { UsersPerStatement = 2 }
            .CheckAsync(DateOnly.MinValue, DateOnly.MaxValue, 100, CancellationToken.None);
        Assert.Equal([long.MinValue, 0, long.MaxValue], check.First.Where(b => b.Rule == "closing").Select(b => b.UserId).Order());
    }

    /// <summary>Partitions of two over the extremes, so that their boundaries are the ids' own.</summary>
    public static TheoryData<string, string, int> JobsIdsAndPartitionSizes => new()
    {
        { AssetRefreshJob.Name, nameof(FarApart), 5_000 },
        { AssetRefreshJob.Name, nameof(Extremes), 2 },
        { UserDormancyJob.Name, nameof(FarApart), 5_000 },
        { UserDormancyJob.Name, nameof(Extremes), 2 },
    };

    [Theory]
    [MemberData(nameof(JobsIdsAndPartitionSizes))]
    public async Task A_clustered_day_over_sparse_ids_is_split_into_partitions_of_the_users_that_exist(string job, string idSet, int partitionSize)
    {
        var ids = IdsOf(idSet);
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Batch:Clustered"] = "true", ["Batch:PartitionSize"] = $"{partitionSize}",
        });
        // The partitions' triggers come due on the server's clock, so it must move for them to fire.
        app.Time.Now = DateTimeOffset.UtcNow;
        app.Time.StartTicking();
        app.CreateClient();
        var day = app.Services.GetRequiredService<BatchCalendar>().Today;
        await PlaceUsersAsync(app, ids, dormant: job == UserDormancyJob.Name, day);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<BatchJobs>().Find(job).RunnerIn(scope.ServiceProvider)
                .RunDueDaysAsync(day, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        }

        // The plan, as the fan-out recorded it before any partition ran.
        var partitions = await PartitionsAsync(database, job, day);
        Assert.True(partitions.Count <= Bound(ids.Length, partitionSize), $"{partitions.Count} partitions planned for {ids.Length} users");
        // Consecutive, in order, from the first user to the last: every user falls in exactly one.
        Assert.Equal(ids.Min(), partitions[0].FirstUserId);
        Assert.Equal(ids.Max(), partitions[^1].LastUserId);
        Assert.All(partitions.Zip(partitions.Skip(1)), pair => Assert.Equal(pair.First.LastUserId + 1, pair.Second.FirstUserId));
        Assert.All(partitions, p => Assert.InRange(ids.Count(id => id >= p.FirstUserId && id <= p.LastUserId), 1, partitionSize));

        BatchRun? run = null;
        await Eventually.UntilAsync(async () =>
        {
            await using var db = database.CreateContext();
            run = await db.BatchRuns.AsNoTracking().SingleAsync(r => r.JobName == job && r.Day == day);
            return run.Status != BatchRunStatus.Running;
        }, TimeSpan.FromSeconds(60));
        Assert.True(run!.Status == BatchRunStatus.Completed, $"{run.Status}: {run.Error}");
        Assert.Equal((ids.Length, ids.Length), (run.Total, run.Success));
        if (job == UserDormancyJob.Name)
            await AssertEachChangedOnceAsync(app, ids);
        else
            await AssertEachRefreshedOnceAsync(app, ids, day);
    }

    private static long[] IdsOf(string idSet) => idSet == nameof(FarApart) ? FarApart : Extremes;

    /// <summary>What a plan over <paramref name="users"/> may hold: a range per <paramref name="size"/> of them, and one more.</summary>
    private static int Bound(int users, int size) => (users + size - 1) / size + 1;

    /// <summary>ACTIVE users with exactly these ids; dormant ones were last seen two years before the day.</summary>
    private static async Task PlaceUsersAsync(CoreServerApp app, IReadOnlyList<long> ids, bool dormant, DateOnly day)
    {
        var created = new List<long>();
        foreach (var _ in ids)
            created.Add(await app.AddUserAsync(AccountStatus.Active));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        // Out of the way first, so no id given meets one still in use.
        for (var i = 0; i < created.Count; i++)
            await db.Database.ExecuteSqlAsync($"UPDATE users SET id = {-1_000_000L - i} WHERE id = {created[i]}");
        for (var i = 0; i < created.Count; i++)
            await db.Database.ExecuteSqlAsync($"UPDATE users SET id = {ids[i]} WHERE id = {-1_000_000L - i}");
        if (dormant)
        {
            var longAgo = new DateTimeOffset(day.AddYears(-2).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            await db.Users.ExecuteUpdateAsync(set => set.SetProperty(u => u.OpeningDay, day.AddYears(-2)).SetProperty(u => u.LastActivityAt, longAgo));
        }
        Assert.Equal(ids.Order(), await db.Users.AsNoTracking().OrderBy(u => u.Id).Select(u => u.Id).ToListAsync());
    }

    private static async Task AssertEachChangedOnceAsync(CoreServerApp app, IReadOnlyList<long> ids)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        Assert.Equal(ids.Order(), await db.UserStatusChanges.AsNoTracking().OrderBy(c => c.UserId).Select(c => c.UserId).ToListAsync());
        Assert.Equal(ids.Order(), await db.Users.AsNoTracking().Where(u => u.Status == AccountStatus.Inactive).OrderBy(u => u.Id)
            .Select(u => u.Id).ToListAsync());
    }

    private static async Task AssertEachRefreshedOnceAsync(CoreServerApp app, IReadOnlyList<long> ids, DateOnly day)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        Assert.Equal(ids.Order(), await db.DailyAssetSnapshots.AsNoTracking().Where(s => s.SnapshotDay == day).OrderBy(s => s.UserId)
            .Select(s => s.UserId).ToListAsync());
        Assert.All(ids, id => Assert.Equal(1, app.Extension.CallsFor(id)));
    }

    private static async Task<List<BatchRunPartition>> PartitionsAsync(TestDatabase database, string job, DateOnly day)
    {
        await using var db = database.CreateContext();
        var runId = await db.BatchRuns.AsNoTracking().Where(r => r.JobName == job && r.Day == day).Select(r => r.Id).SingleAsync();
        return await db.BatchRunPartitions.AsNoTracking().Where(p => p.RunId == runId).OrderBy(p => p.PartitionNo).ToListAsync();
    }
}
