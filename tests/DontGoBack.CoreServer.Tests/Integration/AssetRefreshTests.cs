using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class AssetRefreshTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private const long StartAmount = 10_000_000;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Every_active_user_gets_one_snapshot_with_the_rule_amount_and_the_pointer(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var active = new List<(long Id, long Base)>();
        for (var i = 0; i < 12; i++)
        {
            var amount = 1_000_000L * (i + 1);
            active.Add((await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-3), 5), (Day.AddDays(-1), amount)), amount));
        }
        active.Add((await app.AddUserAsync(AccountStatus.Active), StartAmount));
        var others = new[]
        {
            await app.AddUserAsync(AccountStatus.Inactive, (Day.AddDays(-1), 7_000_000)),
            await app.AddUserAsync(AccountStatus.Suspended, (Day.AddDays(-1), 7_000_000)),
            await app.AddUserAsync(AccountStatus.CloseRequested, (Day.AddDays(-1), 7_000_000)),
        };

        var result = await client.RunDayAsync(Day);

        Assert.Equal(new BatchResult(Day, BatchRunStatus.Completed, 13, 13, 0, 0, result.ElapsedMs), result.WithoutRun());
        foreach (var (id, baseAmount) in active)
        {
            var today = Assert.Single(await app.SnapshotsOfAsync(id), s => s.SnapshotDay == Day);
            Assert.Equal(app.Extension.Expected(id, Day, baseAmount), today.ClosingAmount);
            Assert.Equal(app.Extension.Rule.MultiplierFor(id, Day), today.MarketMultiplier);
            Assert.Equal(Day, await app.CurrentDayOfAsync(id));
            Assert.Equal(1, app.Extension.CallsFor(id));
        }
        foreach (var id in others)
        {
            Assert.Single(await app.SnapshotsOfAsync(id));
            Assert.Equal(Day.AddDays(-1), await app.CurrentDayOfAsync(id));
            Assert.Equal(0, app.Extension.CallsFor(id));
        }
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Failing_users_are_isolated_recorded_and_keep_their_pointer(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(20, Day.AddDays(-1), StartAmount);
        app.Extension.Inject(Fault.ServerError, users[1], users[2]);
        app.Extension.Inject(Fault.Hang, users[5]);
        app.Extension.Inject(Fault.WrongUserInAnswer, users[8]);
        app.Extension.Inject(Fault.NegativeMultiplier, users[11]);
        app.Extension.Inject(Fault.BadRequest, users[14]);
        var failing = new[] { users[1], users[2], users[5], users[8], users[11], users[14] };

        var result = await client.RunDayAsync(Day);

        Assert.Equal(BatchRunStatus.CompletedWithFailures, result.Status);
        Assert.Equal((20, 14, 0, 6), (result.Total, result.Success, result.Skipped, result.Failed));
        foreach (var id in users.Except(failing))
            Assert.Equal(Day, await app.CurrentDayOfAsync(id));
        foreach (var id in failing)
        {
            Assert.DoesNotContain(await app.SnapshotsOfAsync(id), s => s.SnapshotDay == Day);
            Assert.Equal(Day.AddDays(-1), await app.CurrentDayOfAsync(id));
        }

        var failures = (await app.FailuresAsync(Day)).ToDictionary(f => f.UserId);
        Assert.Equal(failing.Order(), failures.Keys.Order());
        Assert.Equal(FailureClass.Transient, failures[users[1]].FailureClass);
        Assert.Contains("HTTP 500", failures[users[1]].Reason);
        Assert.Equal(FailureClass.Transient, failures[users[5]].FailureClass);
        Assert.Contains("timed out", failures[users[5]].Reason);
        Assert.Equal(FailureClass.Permanent, failures[users[8]].FailureClass);
        Assert.Contains($"answer is for user {users[8] + 1}", failures[users[8]].Reason);
        Assert.Contains("multiplier", failures[users[11]].Reason);
        Assert.Equal(FailureClass.Permanent, failures[users[14]].FailureClass);
        Assert.Contains("HTTP 400", failures[users[14]].Reason);
        // Transient faults are retried (1 + 2 retries here); permanent ones are not.
        Assert.Equal(3, app.Extension.CallsFor(users[1]));
        Assert.Equal(1, app.Extension.CallsFor(users[14]));
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Rerun_of_same_day_creates_no_second_snapshot_and_retries_only_failed_users(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(10, Day.AddDays(-1), StartAmount);
        app.Extension.Inject(Fault.BadRequest, users[3], users[7]);
        var first = await client.RunDayAsync(Day);
        Assert.Equal((10, 8, 0, 2), (first.Total, first.Success, first.Skipped, first.Failed));

        app.Extension.ClearFaults();
        var second = await client.RunDayAsync(Day);

        Assert.Equal(new BatchResult(Day, BatchRunStatus.Completed, 10, 2, 8, 0, second.ElapsedMs), second.WithoutRun());
        foreach (var id in users)
        {
            var today = Assert.Single(await app.SnapshotsOfAsync(id), s => s.SnapshotDay == Day);
            Assert.Equal(app.Extension.Expected(id, Day, StartAmount), today.ClosingAmount);
            Assert.Equal(Day, await app.CurrentDayOfAsync(id));
        }
        Assert.Equal(1, app.Extension.CallsFor(users[0]));
        Assert.Equal(2, app.Extension.CallsFor(users[3]));
        Assert.Empty(await app.FailuresAsync(Day));

        var third = await client.RunDayAsync(Day);
        Assert.Equal((10, 0, 10, 0), (third.Total, third.Success, third.Skipped, third.Failed));
        Assert.Equal(12, app.Extension.TotalCalls);
        await database.AssertChainHoldsAsync();
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Backfill_uses_the_snapshot_before_the_day_re_bases_the_days_after_and_never_moves_the_pointer_back(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var withHistory = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-5), 3_000_000));
        await client.RunDayAsync(Day.AddDays(-1));
        var newcomer = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 4_000_000));
        var backfillDay = Day.AddDays(-3);

        var result = await client.RunDayAsync(backfillDay);

        Assert.Equal((2, 1, 1, 0, 1, 1, 1), (result.Total, result.Success, result.Skipped, result.Failed,
            result.NotDue, result.Rebased().RebasedUsers, result.Rebased().RebasedDays));
        var filled = Assert.Single(await app.SnapshotsOfAsync(withHistory), s => s.SnapshotDay == backfillDay);
        Assert.Equal(app.Extension.Expected(withHistory, backfillDay, 3_000_000), filled.ClosingAmount);
        // Nothing before the newcomer's account opened.
        Assert.DoesNotContain(await app.SnapshotsOfAsync(newcomer), s => s.SnapshotDay == backfillDay);
        Assert.Equal(Day.AddDays(-1), await app.CurrentDayOfAsync(withHistory));
        Assert.Equal(Day.AddDays(-1), await app.CurrentDayOfAsync(newcomer));

        // The day after the back-fill now opens at its closing, with its own multiplier again.
        var latest = Assert.Single(await app.SnapshotsOfAsync(withHistory), s => s.SnapshotDay == Day.AddDays(-1));
        Assert.Equal((filled.ClosingAmount, app.Extension.Expected(withHistory, Day.AddDays(-1), filled.ClosingAmount)),
            (latest.OpeningAmount, latest.ClosingAmount));
        await database.AssertChainHoldsAsync();
    }
}
