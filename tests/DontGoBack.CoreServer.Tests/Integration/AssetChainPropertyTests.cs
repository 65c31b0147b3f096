using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// Generated sequences of runs out of order, failures, retries, adjustments and back-fills on a
/// small population: the chain holds after every step, and once every day is through the state
/// equals an in-order run of the same days with the same net flows on the same days.
/// </summary>
public sealed class AssetChainPropertyTests
{
    private const int Cases = 12;
    private const int UsersPerCase = 4;
    private const int Days = 5;
    private static readonly DateOnly OpeningDay = new(2025, 8, 3);

    private static DateOnly DayOf(int k) => OpeningDay.AddDays(k);

    private abstract record Step;

    private sealed record Run(int Day) : Step;

    private sealed record RunWithFailures(int Day, int[] Failing) : Step;

    private sealed record Adjust(int User, long Amount) : Step;

    private sealed record Backfill(int FirstDay, int LastDay, int FirstUser, int LastUser) : Step;

    private static readonly Gen<int> AnyDay = Gen.Choose(1, Days);
    private static readonly Gen<int> AnyUser = Gen.Choose(0, UsersPerCase - 1);

    private static readonly Gen<Step> AnyStep = Gen.Frequency(
        (4, AnyDay.Select(Step (k) => new Run(k))),
        (2, from k in AnyDay
            from failing in Gen.SubListOf(Enumerable.Range(0, UsersPerCase).ToArray())
            select (Step)new RunWithFailures(k, [.. failing])),
        (3, from user in AnyUser
            from amount in Gen.Choose(-200, 200)
            where amount != 0
            select (Step)new Adjust(user, amount * 1_000L)),
        (1, from first in AnyDay
            from length in Gen.Choose(0, 2)
            from firstUser in AnyUser
            from lastUser in Gen.Choose(firstUser, UsersPerCase - 1)
            select (Step)new Backfill(first, Math.Min(Days, first + length), firstUser, lastUser)));

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Any_order_of_runs_failures_retries_adjustments_and_back_fills_ends_as_an_in_order_run(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var oracleDatabase = await TestDatabase.CreateAsync(provider);
        var settings = new Dictionary<string, string?> { ["PublicRateLimit:Enabled"] = "false" };
        await using var app = new CoreServerApp(database, settings);
        await using var oracle = new CoreServerApp(oracleDatabase, settings);
        var (client, oracleClient) = (app.CreateClient(), oracle.CreateClient());

        var sequences = Gen.NonEmptyListOf(AnyStep).Select(steps => steps.Take(12).ToArray()).ToArbitrary();
        var property = Prop.ForAll(sequences, steps => RunCaseAsync(app, client, oracle, oracleClient, steps));
        // Off xUnit's synchronisation context: FsCheck waits on each case's task.
        await Task.Run(() => Check.One(Config.QuickThrowOnFailure.WithMaxTest(Cases), property));
    }

    /// <summary>Each case adds its own users to both databases, so cases share the servers but not the users.</summary>
    private static async Task<bool> RunCaseAsync(CoreServerApp app, HttpClient client, CoreServerApp oracle, HttpClient oracleClient, Step[] steps)
    {
        var users = await app.AddActiveUsersAsync(UsersPerCase, OpeningDay, 10_000_000);
        Assert.Equal(users, await oracle.AddActiveUsersAsync(UsersPerCase, OpeningDay, 10_000_000));
        var description = string.Join("; ", steps.Select(Describe));

        foreach (var step in steps)
        {
            await ApplyAsync(app, client, users, step);
            var check = await CheckAsync(app);
            Assert.True(check.Total == 0, $"after {Describe(step)} in [{description}]: {check.Total} breaks, first {string.Join(", ", check.First)}");
        }
        // Then every failure is retried: each day once more, in order.
        for (var k = 1; k <= Days; k++)
            await client.RunDayAsync(DayOf(k));
        Assert.Equal(0, (await CheckAsync(app)).Total);

        // The oracle runs the same days in order, each user's net flow put on the day it landed on in the test.
        var netFlows = await NetFlowsAsync(app, users);
        await ApplyNetFlowsAsync(oracleClient, netFlows, OpeningDay);
        for (var k = 1; k <= Days; k++)
        {
            await oracleClient.RunDayAsync(DayOf(k));
            await ApplyNetFlowsAsync(oracleClient, netFlows, DayOf(k));
        }

        foreach (var user in users)
        {
            var found = (await app.SnapshotsOfAsync(user)).Select(s => (s.SnapshotDay, s.OpeningAmount, s.ClosingAmount, s.NetFlow));
            var expected = (await oracle.SnapshotsOfAsync(user)).Select(s => (s.SnapshotDay, s.OpeningAmount, s.ClosingAmount, s.NetFlow));
            Assert.True(expected.SequenceEqual(found),
                $"user {user} after [{description}]: expected {string.Join(" ", expected)}, found {string.Join(" ", found)}");
            Assert.Equal(await NicknameAsync(oracleClient, user), await NicknameAsync(client, user));
        }
        return true;
    }

    private static async Task ApplyAsync(CoreServerApp app, HttpClient client, List<long> users, Step step)
    {
        switch (step)
        {
            case Run run:
                await client.RunDayAsync(DayOf(run.Day));
                break;
            case RunWithFailures run:
                app.Extension.Inject(FakeExtensionServer.Fault.ServerError, [.. run.Failing.Select(i => users[i])]);
                await client.RunDayAsync(DayOf(run.Day));
                app.Extension.ClearFaults();
                break;
            case Adjust adjust:
                var response = await client.PostAsJsonAsync($"/internal/users/{users[adjust.User]}/asset-adjustments",
                    new { amount = adjust.Amount, reason = "generated" });
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                break;
            case Backfill backfill:
                for (var k = backfill.FirstDay; k <= backfill.LastDay; k++)
                {
                    await using var scope = app.Services.CreateAsyncScope();
                    var result = await scope.ServiceProvider.GetRequiredService<DailyJobRunner<AssetRefreshJob>>().TryRunAsync(
                        DayOf(k), CancellationToken.None, new IdRange(users[backfill.FirstUser], users[backfill.LastUser]));
                    Assert.NotEqual(BatchRunStatus.Failed, result?.Status);
                }
                break;
        }
    }

    /// <summary>Rewards and penalties by user and the day of the snapshot they landed on.</summary>
    private static async Task<List<(long User, DateOnly Day, long Amount)>> NetFlowsAsync(CoreServerApp app, List<long> users)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        var changes = await db.AssetChanges.AsNoTracking()
            .Where(c => users.Contains(c.UserId) && (c.Kind == AssetChangeKind.Reward || c.Kind == AssetChangeKind.Penalty || c.Kind == AssetChangeKind.Correction))
            .Select(c => new { c.UserId, c.SnapshotDay, c.Kind, c.Delta })
            .ToListAsync();
        // Small amounts on ten millions never clamp: a correction here would be a re-base gone wrong.
        Assert.DoesNotContain(changes, c => c.Kind == AssetChangeKind.Correction);
        return changes.GroupBy(c => (c.UserId, c.SnapshotDay)).Select(g => (g.Key.UserId, g.Key.SnapshotDay, g.Sum(c => c.Delta))).ToList();
    }

    private static async Task ApplyNetFlowsAsync(HttpClient oracleClient, List<(long User, DateOnly Day, long Amount)> netFlows, DateOnly day)
    {
        // A reward and an equal penalty on one day net to nothing, which the oracle leaves out: the API refuses a zero adjustment.
        foreach (var (user, _, amount) in netFlows.Where(f => f.Day == day && f.Amount != 0))
        {
            var response = await oracleClient.PostAsJsonAsync($"/internal/users/{user}/asset-adjustments", new { amount, reason = "oracle" });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    private static async Task<string?> NicknameAsync(HttpClient client, long user)
    {
        using var series = JsonDocument.Parse(await client.GetStringAsync($"/api/users/{user}/asset-series"));
        return series.RootElement.GetProperty("nickname").GetString();
    }

    private static async Task<ChainCheck> CheckAsync(CoreServerApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AssetChainVerifier>().CheckAsync(DateOnly.MinValue, DateOnly.MaxValue, 5, CancellationToken.None);
    }

    private static string Describe(Step step) => step switch
    {
        Run run => $"run {run.Day}",
        RunWithFailures run => $"run {run.Day} failing [{string.Join(",", run.Failing)}]",
        Adjust adjust => $"adjust user {adjust.User} by {adjust.Amount}",
        Backfill backfill => $"back-fill {backfill.FirstDay}..{backfill.LastDay} users {backfill.FirstUser}..{backfill.LastUser}",
        _ => step.ToString(),
    };
}
