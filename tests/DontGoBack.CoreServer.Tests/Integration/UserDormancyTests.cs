using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.User;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>The second domain batch, on the engine: dormancy, reactivation, its effect on the asset refresh, catch-up and the CLI.</summary>
public sealed class UserDormancyTests
{
    /// <summary>CoreServerApp's pinned clock is 09:00 on this day in Seoul, after the 02:00 fire.</summary>
    private static readonly DateOnly Day = new(2025, 8, 10);

    private static readonly TimeZoneInfo Seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
    private const string Trigger = "/internal/batch/user-dormancy/runs";

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Active_users_without_activity_for_a_year_become_inactive_with_a_reason_and_a_rerun_changes_nothing(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        // A year before the day begins in Seoul: activity before it is too old, at it is not.
        var yearBefore = StartInSeoul(Day.AddDays(-365));
        var longOpen = Day.AddDays(-500);
        var stale = await AddActiveAsync(app, lastActivity: yearBefore.AddSeconds(-1), opened: longOpen);
        var justInTime = await AddActiveAsync(app, lastActivity: yearBefore, opened: longOpen);
        var recent = await AddActiveAsync(app, lastActivity: StartInSeoul(Day.AddDays(-1)), opened: longOpen);
        var neverButNew = await AddActiveAsync(app, lastActivity: null, opened: Day.AddDays(-30));
        var neverAndOld = await AddActiveAsync(app, lastActivity: null, opened: Day.AddDays(-366));
        var suspended = await app.AddUserAsync(AccountStatus.Suspended);
        await SetAsync(app, suspended, yearBefore.AddDays(-10), opened: longOpen);

        var first = await RunAsync(client, Day);

        Assert.Equal((BatchRunStatus.Completed, 5, 2, 3, 0), (first.Status, first.Total, first.Success, first.Skipped, first.Failed));
        Assert.Equal(AccountStatus.Inactive, await StatusAsync(app, stale));
        Assert.Equal(AccountStatus.Inactive, await StatusAsync(app, neverAndOld));
        foreach (var user in new[] { justInTime, recent, neverButNew })
            Assert.Equal(AccountStatus.Active, await StatusAsync(app, user));
        Assert.Equal(AccountStatus.Suspended, await StatusAsync(app, suspended));
        var history = await HistoryAsync(app);
        Assert.Equal([stale, neverAndOld], history.Select(h => h.UserId).Order());
        Assert.All(history, h =>
        {
            Assert.Equal((AccountStatus.Active, AccountStatus.Inactive), (h.FromStatus, h.ToStatus));
            Assert.Equal($"dormant: no activity for 365 days before {Day:yyyy-MM-dd}", h.Reason);
        });

        var again = await RunAsync(client, Day);

        Assert.Equal((BatchRunStatus.Completed, 2, 3, 0, 3), (again.Status, again.Attempt, again.Total, again.Success, again.Skipped));
        Assert.Equal(2, (await HistoryAsync(app)).Count);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_dormant_user_is_left_out_of_the_refresh_and_activity_wakes_them_so_the_next_refresh_continues_their_chain(
        DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var sleeper = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-3), 1_000_000));
        var awake = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-3), 1_000_000));
        await SetAsync(app, sleeper, StartInSeoul(Day.AddDays(-400)), opened: Day.AddDays(-500));
        await SetAsync(app, awake, StartInSeoul(Day.AddDays(-3)), opened: null);

        Assert.Equal(1, (await RunAsync(client, Day.AddDays(-2))).Success);
        var refresh = await client.RunDayAsync(Day.AddDays(-2));

        Assert.Equal((1, 1), (refresh.Total, refresh.Success));
        Assert.Equal([Day.AddDays(-3)], (await app.SnapshotsOfAsync(sleeper)).Select(s => s.SnapshotDay));
        Assert.Equal(2, (await app.SnapshotsOfAsync(awake)).Count);

        app.Time.Now = app.Time.Now.AddDays(-1).AddHours(3);
        var woken = await client.PostAsync($"/internal/users/{sleeper}/activity", null);
        var repeated = await client.PostAsync($"/internal/users/{sleeper}/activity", null);

        Assert.Equal(HttpStatusCode.OK, woken.StatusCode);
        using (var body = JsonDocument.Parse(await woken.Content.ReadAsStringAsync()))
        {
            Assert.Equal("ACTIVE", body.RootElement.GetProperty("status").GetString());
            Assert.True(body.RootElement.GetProperty("reactivated").GetBoolean());
        }
        using (var body = JsonDocument.Parse(await repeated.Content.ReadAsStringAsync()))
            Assert.False(body.RootElement.GetProperty("reactivated").GetBoolean());
        Assert.Equal(AccountStatus.Active, await StatusAsync(app, sleeper));
        var history = (await HistoryAsync(app)).Where(h => h.UserId == sleeper).ToList();
        Assert.Equal([(AccountStatus.Active, AccountStatus.Inactive), (AccountStatus.Inactive, AccountStatus.Active)],
            history.Select(h => (h.FromStatus, h.ToStatus)));
        Assert.Equal(UserActivity.ReactivatedReason, history[^1].Reason);

        // The same day's dormancy run again leaves them be: the activity is recent now.
        Assert.Equal(0, (await RunAsync(client, Day.AddDays(-1))).Success);
        await client.RunDayAsync(Day.AddDays(-1));
        var snapshots = await app.SnapshotsOfAsync(sleeper);
        Assert.Equal([Day.AddDays(-3), Day.AddDays(-1)], snapshots.Select(s => s.SnapshotDay));
        // From their last snapshot, as the base rule says: no day was made up for the time asleep.
        Assert.Equal(snapshots[0].ClosingAmount, snapshots[1].OpeningAmount);
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task No_account_younger_than_AfterDays_is_made_dormant_the_days_count_from_the_later_of_activity_and_opening(
        DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        // Rows as an import or an old seed leaves them: activity from before the account opened, or none at all.
        var yesterdayOldActivity = await AddActiveAsync(app, lastActivity: StartInSeoul(Day.AddDays(-400)), opened: Day.AddDays(-1));
        var yesterdayNoActivity = await AddActiveAsync(app, lastActivity: null, opened: Day.AddDays(-1));
        // Exactly AfterDays old at the start of the day: not yet; one day more: dormant.
        var exactlyAfterDays = await AddActiveAsync(app, lastActivity: null, opened: Day.AddDays(-365));
        var afterDaysAndOne = await AddActiveAsync(app, lastActivity: null, opened: Day.AddDays(-366));
        var oldButActiveSinceOpening = await AddActiveAsync(app, lastActivity: StartInSeoul(Day.AddDays(-200)), opened: Day.AddDays(-366));

        var run = await RunAsync(client, Day);

        Assert.Equal((BatchRunStatus.Completed, 5, 1), (run.Status, run.Total, run.Success));
        foreach (var user in new[] { yesterdayOldActivity, yesterdayNoActivity, exactlyAfterDays, oldButActiveSinceOpening })
            Assert.Equal(AccountStatus.Active, await StatusAsync(app, user));
        Assert.Equal(AccountStatus.Inactive, await StatusAsync(app, afterDaysAndOne));
        var change = Assert.Single(await HistoryAsync(app));
        Assert.Equal((afterDaysAndOne, $"dormant: no activity for 365 days before {Day:yyyy-MM-dd}"), (change.UserId, change.Reason));
    }

    /// <summary>
    /// Demo users seeded in chunks with random sizes, opening days and active shares: none was active before
    /// the account opened, and a first dormancy run makes none dormant who opened within AfterDays, while
    /// some of those who opened long before do become dormant (the run had users it could make dormant).
    /// </summary>
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Demo_users_are_never_active_before_they_open_and_a_first_dormancy_run_leaves_the_young_accounts_be(DatabaseProvider provider)
    {
        var seed = Environment.TickCount;
        var random = new Random(seed);
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var seeder = scope.ServiceProvider.GetRequiredService<Hosting.DemoDataSeeder>();
            // The default opening (yesterday) first, then openings anywhere in the two years before the day.
            await seeder.AddUsersAsync(random.Next(100, 300), activePercent: 100, CancellationToken.None);
            for (var chunk = 0; chunk < 6; chunk++)
            {
                // The first of them opened long enough ago that a few were last active over a year before the day.
                var (count, percent, opening) = chunk == 0 ? (300, 100, Day.AddDays(-400))
                    : (random.Next(50, 300), random.Next(50, 101), Day.AddDays(-random.Next(1, 730)));
                await seeder.AddUsersAsync(count, percent, CancellationToken.None, opening);
            }
        }
        var calendar = app.Services.GetRequiredService<BatchCalendar>();
        await using (var db = database.CreateContext())
        {
            var users = await db.Users.AsNoTracking().Select(u => new { u.Id, u.OpeningDay, u.LastActivityAt }).ToListAsync();
            Assert.All(users, u => Assert.True(u.LastActivityAt is null || u.LastActivityAt >= calendar.StartOf(u.OpeningDay),
                $"seed {seed}: user {u.Id} opened {u.OpeningDay:yyyy-MM-dd} but was last active {u.LastActivityAt:O}"));
        }

        var run = await RunAsync(client, Day);

        Assert.Equal(BatchRunStatus.Completed, run.Status);
        await using (var db = database.CreateContext())
        {
            var madeDormant = await db.UserStatusChanges.AsNoTracking().Join(db.Users, c => c.UserId, u => u.Id, (c, u) => new { u.Id, u.OpeningDay })
                .ToListAsync();
            var young = madeDormant.Where(u => u.OpeningDay >= Day.AddDays(-365)).ToList();
            Assert.True(young.Count == 0, $"seed {seed}: {young.Count} of the users made dormant opened within 365 days, e.g. user {young.FirstOrDefault()?.Id}");
            Assert.True(madeDormant.Count > 0, $"seed {seed}: nobody was made dormant, not even among the accounts opened 400 days ago");
            Assert.Equal(run.Success, madeDormant.Count);
        }
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_first_dormancy_run_on_a_fresh_demo_database_makes_nobody_dormant(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        // As a fresh install starts: the demo users are added on an empty database, opening yesterday.
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["DemoData:UsersOnEmptyDatabase"] = "1000" });
        var client = app.CreateClient();
        Assert.Equal(1000, await CountUsersAsync(app));

        var run = await RunAsync(client, Day);

        Assert.Equal((BatchRunStatus.Completed, 0), (run.Status, run.Success));
        Assert.True(run.Total > 800, $"only {run.Total} active demo users were looked at");
        Assert.Empty(await HistoryAsync(app));
    }

    [Fact]
    public async Task Activity_of_an_unknown_user_is_a_404_problem_and_changes_nothing()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var known = await app.AddUserAsync(AccountStatus.Active);

        var response = await client.PostAsync($"/internal/users/{known + 1}/activity", null);

        await response.AssertProblemAsync(HttpStatusCode.NotFound, $"{known + 1}");
        Assert.Empty(await HistoryAsync(app));
        Assert.Equal(1, await CountUsersAsync(app));
    }

    [Fact]
    public async Task Missed_days_are_caught_up_each_with_its_own_day()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        // Dormant as of Day-1, not yet as of Day-2: the catch-up must judge each day by itself.
        long user;
        await using (var before = new CoreServerApp(database))
        {
            var client = before.CreateClient();
            user = await AddActiveAsync(before, lastActivity: StartInSeoul(Day.AddDays(-1 - 365)).AddSeconds(-1), opened: Day.AddDays(-500));
            // The job ran on its own day: the schedule owes the days since (a day run by hand later would owe nothing after it).
            before.Time.Now = StartInSeoul(Day.AddDays(-3)).AddHours(3);
            Assert.Equal(0, (await RunAsync(client, Day.AddDays(-3))).Success);
        }

        await using var app = new CoreServerApp(database);
        app.CreateClient();
        await using var scope = app.Services.CreateAsyncScope();
        var results = await scope.ServiceProvider.GetRequiredService<DailyJobRunner<UserDormancyJob>>().RunDueDaysAsync(null, CancellationToken.None);

        Assert.Equal([Day.AddDays(-2), Day.AddDays(-1), Day], results.Select(r => r.Day));
        Assert.Equal([0, 1, 0], results.Select(r => r.Success));
        var change = Assert.Single(await HistoryAsync(app));
        Assert.Equal(user, change.UserId);
        Assert.EndsWith($"before {Day.AddDays(-1):yyyy-MM-dd}", change.Reason);
    }

    [Fact]
    public async Task The_cli_lists_its_runs_and_a_retry_of_a_day_through_finds_nothing_to_retry()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var day = TestCalendar.Seoul.Today.AddDays(-1);
        await using (var app = new CoreServerApp(database))
        {
            app.Time.Now = DateTimeOffset.UtcNow;
            await AddActiveAsync(app, lastActivity: DateTimeOffset.UtcNow.AddDays(-500));
            Assert.Equal(1, (await RunAsync(app.CreateClient(), day)).Success);
        }
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = "Sqlite", ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
        };

        var retry = await CoreServerProcess.RunAsync(settings, ["retry-failed", "--job", UserDormancyJob.Name, "--day", $"{day:yyyy-MM-dd}", "--json"]);
        var runs = await CoreServerProcess.RunAsync(settings, ["runs", "--job", UserDormancyJob.Name]);

        Assert.True(retry.ExitCode == 0, retry.Output);
        // The day went through with nothing failed: a retry finds nothing to do, says so and adds no attempt.
        Assert.Contains(retry.StandardError, line => line.StartsWith($"User dormancy {day:yyyy-MM-dd}: nothing to retry: user dormancy run ", StringComparison.Ordinal));
        Assert.True(runs.ExitCode == 0, runs.Output);
        var row = Assert.Single(runs.StandardOutput, line => line.Contains($"| {day:yyyy-MM-dd} |"));
        Assert.Contains("| completed | 1 |", row);
    }

    private static async Task<BatchResult> RunAsync(HttpClient client, DateOnly day) =>
        await RefreshRuns.ResultOfAsync(await client.PostAsync($"{Trigger}?day={day:yyyy-MM-dd}", null));

    private static DateTimeOffset StartInSeoul(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.FromHours(9));

    private static async Task<long> AddActiveAsync(CoreServerApp app, DateTimeOffset? lastActivity, DateOnly? opened = null)
    {
        var user = await app.AddUserAsync(AccountStatus.Active);
        await SetAsync(app, user, lastActivity, opened);
        return user;
    }

    /// <param name="opened">The account's opening day; null leaves it as added (<see cref="CoreServerApp.LongAgo"/>).</param>
    private static async Task SetAsync(CoreServerApp app, long user, DateTimeOffset? lastActivity, DateOnly? opened)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        var row = await db.Users.SingleAsync(u => u.Id == user);
        // Stored as UTC, as the server writes every instant.
        row.LastActivityAt = lastActivity?.ToUniversalTime();
        row.OpeningDay = opened ?? row.OpeningDay;
        await db.SaveChangesAsync();
    }

    private static async Task<AccountStatus> StatusAsync(CoreServerApp app, long user)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>().Users.AsNoTracking()
            .Where(u => u.Id == user).Select(u => u.Status).SingleAsync();
    }

    private static async Task<int> CountUsersAsync(CoreServerApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>().Users.CountAsync();
    }

    private static async Task<List<UserStatusChange>> HistoryAsync(CoreServerApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>().UserStatusChanges.AsNoTracking().OrderBy(c => c.Id).ToListAsync();
    }
}
