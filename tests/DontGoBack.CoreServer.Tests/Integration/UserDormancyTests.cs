using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Batch.User;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
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
        var stale = await AddActiveAsync(app, lastActivity: yearBefore.AddSeconds(-1));
        var justInTime = await AddActiveAsync(app, lastActivity: yearBefore);
        var recent = await AddActiveAsync(app, lastActivity: StartInSeoul(Day.AddDays(-1)));
        var neverButNew = await AddActiveAsync(app, lastActivity: null);
        var neverAndOld = await AddActiveAsync(app, lastActivity: null, created: yearBefore.AddDays(-1));
        var suspended = await app.AddUserAsync(AccountStatus.Suspended);
        await SetAsync(app, suspended, yearBefore.AddDays(-10), created: null);

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
        await SetAsync(app, sleeper, StartInSeoul(Day.AddDays(-400)), created: null);
        await SetAsync(app, awake, StartInSeoul(Day.AddDays(-3)), created: null);

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
            user = await AddActiveAsync(before, lastActivity: StartInSeoul(Day.AddDays(-1 - 365)).AddSeconds(-1));
            // The job ran on its own day: the schedule owes the days since (a day run by hand later would owe nothing after it).
            before.Time.Now = StartInSeoul(Day.AddDays(-3)).AddHours(3);
            Assert.Equal(0, (await RunAsync(client, Day.AddDays(-3))).Success);
        }

        await using var app = new CoreServerApp(database);
        app.CreateClient();
        await using var scope = app.Services.CreateAsyncScope();
        var results = await scope.ServiceProvider.GetRequiredService<DailyJobRunner<UserDormancyJob>>().RunDueDaysAsync(null, CancellationToken.None);

        Assert.Equal([Day.AddDays(-2), Day.AddDays(-1), Day], results.Select(r => r.SnapshotDay));
        Assert.Equal([0, 1, 0], results.Select(r => r.Success));
        var change = Assert.Single(await HistoryAsync(app));
        Assert.Equal(user, change.UserId);
        Assert.EndsWith($"before {Day.AddDays(-1):yyyy-MM-dd}", change.Reason);
    }

    [Fact]
    public async Task The_cli_lists_its_runs_and_retries_a_day()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var day = BatchDay.Today(TimeProvider.System, Seoul).AddDays(-1);
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
        Assert.Contains(retry.StandardError, line => line.StartsWith($"User dormancy {day:yyyy-MM-dd}: completed — total 0 active users", StringComparison.Ordinal));
        Assert.True(runs.ExitCode == 0, runs.Output);
        var row = Assert.Single(runs.StandardOutput, line => line.Contains($"| {day:yyyy-MM-dd} |"));
        Assert.Contains("| completed | 2 |", row);
    }

    private static async Task<BatchResult> RunAsync(HttpClient client, DateOnly day) =>
        await RefreshRuns.ResultOfAsync(await client.PostAsync($"{Trigger}?snapshotDay={day:yyyy-MM-dd}", null));

    private static DateTimeOffset StartInSeoul(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.FromHours(9));

    private static async Task<long> AddActiveAsync(CoreServerApp app, DateTimeOffset? lastActivity, DateTimeOffset? created = null)
    {
        var user = await app.AddUserAsync(AccountStatus.Active);
        await SetAsync(app, user, lastActivity, created);
        return user;
    }

    private static async Task SetAsync(CoreServerApp app, long user, DateTimeOffset? lastActivity, DateTimeOffset? created)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        var row = await db.Users.SingleAsync(u => u.Id == user);
        // Stored as UTC, as the server writes every instant.
        row.LastActivityAt = lastActivity?.ToUniversalTime();
        row.CreatedAt = (created ?? row.CreatedAt).ToUniversalTime();
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
