using System.Net;
using System.Net.Http.Json;
using DontGoBack.Chaos.Oracle;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Domain.Assets;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The chaos campaign's oracle (bench/DontGoBack.Chaos.Oracle) catches what it claims: on a database the core server
/// wrote two days into, it finds nothing; damaged by hand in each way it checks (and told of a late day nobody alerted),
/// it finds that damage. PostgreSQL only,
/// as the campaign is.
/// </summary>
public sealed class ChaosOracleTests(ITestOutputHelper output)
{
    private static readonly DateOnly Opening = new(2025, 8, 8);
    private static readonly DateOnly FirstDay = Opening.AddDays(1);
    private static readonly DateOnly LastDay = Opening.AddDays(2);
    private const int Users = 6;

    public enum Damage
    {
        None,
        MissingSnapshot,
        DoubledSnapshot,
        BrokenChain,
        DoubledAdjustment,
        LostAdjustment,
        CallsOverBound,
        LateDayWithoutAlert,
        StaleRollup,
    }

    [Theory]
    [InlineData(Damage.None, null)]
    [InlineData(Damage.MissingSnapshot, ChaosOracle.SnapshotsMissing)]
    [InlineData(Damage.DoubledSnapshot, ChaosOracle.SnapshotsDoubled)]
    [InlineData(Damage.BrokenChain, ChaosOracle.ChainBreaks)]
    [InlineData(Damage.DoubledAdjustment, ChaosOracle.AdjustmentsDoubled)]
    [InlineData(Damage.LostAdjustment, ChaosOracle.AdjustmentsLost)]
    [InlineData(Damage.CallsOverBound, ChaosOracle.CallsOverBound)]
    [InlineData(Damage.LateDayWithoutAlert, ChaosOracle.AlertsMissing)]
    [InlineData(Damage.StaleRollup, ChaosOracle.RollupsStale)]
    public async Task The_oracle_passes_an_intact_campaign_and_finds_each_damage(Damage damage, string? expected)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(Users, Opening, 10_000_000);
        foreach (var day in new[] { FirstDay, LastDay })
            Assert.Equal(Users, (await client.RunDayAsync(day)).Success);
        // Three adjustments as the campaign sends them, the key in the reason too; the second one replayed, as a retry would.
        var adjustments = new List<SentAdjustment>();
        foreach (var (user, n) in users.Take(3).Select((user, n) => (user, n)))
        {
            var key = $"chaos-{n}";
            var sent = new { amount = 1_000L * (n + 1), reason = $"chaos [{key}]", idempotencyKey = key };
            for (var replay = 0; replay < (n == 1 ? 2 : 1); replay++)
                Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync($"/internal/users/{user}/asset-adjustments", sent)).StatusCode);
            adjustments.Add(new SentAdjustment(user, key, sent.amount, Acknowledged: true));
        }
        // The stand-in's log as it would read: one successful call per user and day, with the multiplier it answers.
        var calls = users.SelectMany(user => new[] { FirstDay, LastDay }
            .Select(day => new OracleCall(user, day, 200, app.Extension.Rule.MultiplierFor(user, day)))).ToList();

        // September's maintenance rolls August up, its days kept: the oracle checks the roll-ups against them.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var rolled = await scope.ServiceProvider.GetRequiredService<AssetHistoryLifecycle>()
                .RunAsync(new DateOnly(2025, 9, 1), new Progress<HistoryLifecycleStep>(), CancellationToken.None);
            Assert.Equal((1, (long)Users), (rolled.MonthsRolledUp, rolled.RollupRowsWritten));
        }

        var victim = users[1];
        var deadlines = new Dictionary<DateOnly, DateTimeOffset>();
        switch (damage)
        {
            case Damage.MissingSnapshot:
                await database.ExecutePostgresAsync($"DELETE FROM daily_asset_snapshots WHERE user_id = {victim} AND snapshot_day = '{FirstDay:yyyy-MM-dd}'");
                break;
            case Damage.DoubledSnapshot:
                // The unique index would refuse the copy: dropped first, as a migration gone wrong would leave it.
                await database.ExecutePostgresAsync("""
                    DO $$ BEGIN
                      EXECUTE 'DROP INDEX ' || (SELECT quote_ident(indexname) FROM pg_indexes
                                                 WHERE tablename = 'daily_asset_snapshots' AND indexdef LIKE 'CREATE UNIQUE INDEX%(user_id, snapshot_day)%');
                    END $$;
                    """);
                await database.ExecutePostgresAsync($"""
                    INSERT INTO daily_asset_snapshots (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
                    SELECT user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at
                      FROM daily_asset_snapshots WHERE user_id = {victim} AND snapshot_day = '{FirstDay:yyyy-MM-dd}'
                    """);
                break;
            case Damage.BrokenChain:
                await database.ExecutePostgresAsync($"""
                    UPDATE daily_asset_snapshots SET opening_amount = opening_amount + 1, closing_amount = closing_amount + 1
                     WHERE user_id = {victim} AND snapshot_day = '{FirstDay:yyyy-MM-dd}'
                    """);
                break;
            case Damage.DoubledAdjustment:
                // Applied a second time without its key (the unique key index would refuse it with one), as a retry that lost its key would.
                await database.ExecutePostgresAsync($"""
                    INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, reason, idempotency_key, snapshot_id, snapshot_day, changed_at)
                    SELECT user_id, kind, amount_after, amount_after + delta, delta, reason, NULL, snapshot_id, snapshot_day, changed_at
                      FROM asset_changes WHERE user_id = {victim} AND idempotency_key = 'chaos-1'
                    """);
                break;
            case Damage.LostAdjustment:
                await database.ExecutePostgresAsync($"DELETE FROM asset_changes WHERE user_id = {victim} AND idempotency_key = 'chaos-1'");
                break;
            case Damage.LateDayWithoutAlert:
                // The last day's deadline came before its run went through, and nothing raised an alert.
                deadlines[LastDay] = new DateTimeOffset(LastDay.ToDateTime(TimeOnly.MinValue), TimeSpan.FromHours(9));
                break;
            case Damage.StaleRollup:
                await database.ExecutePostgresAsync($"UPDATE asset_month_rollups SET closing_amount = closing_amount + 1 WHERE user_id = {victim}");
                break;
            case Damage.CallsOverBound:
                // Five passes' worth of calls for one user and day, where the day had one attempt: two passes at most.
                calls.AddRange(Enumerable.Repeat(new OracleCall(victim, LastDay, 500, null), 5 * CallsPerPass));
                break;
        }

        var report = await ChaosOracle.CheckAsync(database.ConnectionString,
            new OracleInput(FirstDay, LastDay, calls, adjustments, CallsPerPass, deadlines), CancellationToken.None);

        output.WriteLine(report.ToTable());
        if (expected is null)
        {
            Assert.True(report.Passed, report.ToTable());
        }
        else
        {
            Assert.False(report.Passed);
            Assert.True(report.Found(expected) > 0, $"{expected} found nothing:\n{report.ToTable()}");
            var examples = string.Join(' ', report.Findings.Single(f => f.Check == expected).Examples);
            Assert.Contains(damage == Damage.LateDayWithoutAlert ? $"{LastDay:yyyy-MM-dd}: through" : $"user {victim}", examples);
        }
    }

    private const int CallsPerPass = 5;

}
