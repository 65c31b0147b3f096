using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The engine keeps its books (lease renewals with progress, the outcome) beside a job's own work,
/// never on the job's DbContext: a renewal that lands while the job's statement is in flight goes through.
/// </summary>
public sealed class EngineBookkeepingTests
{
    /// <summary>CoreServerApp's pinned clock is 09:00 on this day in Seoul.</summary>
    private static readonly DateOnly Day = new(2025, 8, 10);

    private const string LeaseRenewalFailed = "Renewing the lease of run";

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_dormancy_run_whose_work_is_in_flight_across_lease_renewals_renews_every_time_and_completes(DatabaseProvider provider)
    {
        var watch = new CommandWatch();
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["Batch:ProgressInterval"] = "00:00:00.100" })
        {
            TestServices = watch.On(provider),
        };
        var client = app.CreateClient();
        var sleepers = new List<long>();
        for (var i = 0; i < 3; i++)
            sleepers.Add(await AddSleeperAsync(app));
        static bool Renewal(string sql) => sql.StartsWith("UPDATE", StringComparison.Ordinal) && sql.Contains("heartbeat_at")
                                           && !sql.Contains("finished_at");

        // The job's first statement on the users is held unsent: its work is in flight on its
        // context while the lease's renewals (every 100 ms) come due.
        watch.Forget();
        watch.HoldFirst(CommandWatch.IsUsersWork);
        var running = client.PostAsync($"/internal/batch/user-dormancy/runs?day={Day:yyyy-MM-dd}", null);
        await watch.Holding.WaitAsync(TimeSpan.FromSeconds(30));
        var renewedBefore = watch.Count(Renewal);
        // Three renewals go through while the work is held, or one fails: either way they had their chance.
        await Eventually.UntilAsync(() => Task.FromResult(watch.Count(Renewal) >= renewedBefore + 3
                                                          || app.Logs.Entries.Any(e => e.Message.StartsWith(LeaseRenewalFailed, StringComparison.Ordinal))),
            TimeSpan.FromSeconds(30));
        var renewedWhileHeld = watch.Count(Renewal) - renewedBefore;
        watch.Release();
        var result = await RefreshRuns.ResultOfAsync(await running.WaitAsync(TimeSpan.FromSeconds(60)));

        var renewalFailures = app.Logs.Entries.Where(e => e.Message.StartsWith(LeaseRenewalFailed, StringComparison.Ordinal)).Select(e => e.Message).ToList();
        Assert.True(renewalFailures.Count == 0, string.Join("\n", renewalFailures));
        Assert.True(renewedWhileHeld >= 3, $"{renewedWhileHeld} renewals while the work was in flight");
        Assert.True(result.Status == BatchRunStatus.Completed, $"{result.Status}: {result.Error}");
        Assert.Equal((3, 3), (result.Total, result.Success));
        Assert.Equal(sleepers, await InactiveAsync(app));
        Assert.Empty(watch.SharedContexts());
    }

    /// <summary>The structural guard: whatever a job does with its scope's context, no context the engine keeps its books on is one a job works on.</summary>
    [Fact]
    public async Task No_context_carries_both_the_engines_bookkeeping_and_a_jobs_work()
    {
        var watch = new CommandWatch();
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database) { TestServices = watch.On(DatabaseProvider.Sqlite) };
        var client = app.CreateClient();
        await AddSleeperAsync(app);
        await app.AddUserAsync(AccountStatus.Active);
        watch.Forget();

        var dormancy = await RefreshRuns.ResultOfAsync(await client.PostAsync($"/internal/batch/user-dormancy/runs?day={Day:yyyy-MM-dd}", null));
        var refresh = await client.RunDayAsync(Day);

        Assert.Equal((BatchRunStatus.Completed, 1), (dormancy.Status, dormancy.Success));
        Assert.Equal((BatchRunStatus.Completed, 1), (refresh.Status, refresh.Success));
        // Both kinds of statement were sent, so the check below had something to find.
        Assert.True(watch.Count(CommandWatch.IsBookkeeping) > 0 && watch.Count(CommandWatch.IsUsersWork) > 0);
        Assert.Empty(watch.SharedContexts());
    }

    /// <summary>An ACTIVE user opened and last seen two years before the day: the dormancy run makes them INACTIVE.</summary>
    private static async Task<long> AddSleeperAsync(CoreServerApp app)
    {
        var user = await app.AddUserAsync(AccountStatus.Active);
        var longAgo = new DateTimeOffset(Day.AddYears(-2).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        await using var scope = app.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>().Users.Where(u => u.Id == user)
            .ExecuteUpdateAsync(set => set.SetProperty(u => u.OpeningDay, Day.AddYears(-2)).SetProperty(u => u.LastActivityAt, longAgo));
        return user;
    }

    private static async Task<List<long>> InactiveAsync(CoreServerApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>().Users.AsNoTracking()
            .Where(u => u.Status == AccountStatus.Inactive).OrderBy(u => u.Id).Select(u => u.Id).ToListAsync();
    }
}
