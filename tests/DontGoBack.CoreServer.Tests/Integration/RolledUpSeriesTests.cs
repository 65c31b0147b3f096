using System.Text.Json;
using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>The profile graph's month view reads the roll-ups and the daily rows after them as one (issue 27).</summary>
public sealed class RolledUpSeriesTests
{
    private const string Range = "from=2025-03-01&to=2025-08-10";

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_users_month_points_read_the_same_before_and_after_the_months_are_rolled_up_and_the_cache_follows(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, RolledHistory.Settings);
        var client = app.CreateClient();
        var history = await RolledHistory.SeedAsync(app);
        var months = new Dictionary<long, string>();
        var days = new Dictionary<long, string>();
        foreach (var user in history.Active)
        {
            months[user] = await BodyAsync(client, user, "month");
            days[user] = await BodyAsync(client, user, "day");
        }
        // The whole history, March to August, with its rewards and penalties.
        Assert.Equal(6, Points(months[history.Active[0]]).GetArrayLength());

        await RolledHistory.RunLifecycleAsync(app);

        // Read from the database by a server without a cache: the same bytes, colours and rounded multipliers included.
        await using (var uncached = new CoreServerApp(database, new Dictionary<string, string?>(RolledHistory.Settings) { ["SeriesCache:Enabled"] = "false" }))
        {
            var fresh = uncached.CreateClient();
            foreach (var user in history.Active)
                Assert.Equal(months[user], await BodyAsync(fresh, user, "month"));
        }
        foreach (var user in history.Active)
        {
            // And through the cache of the server that let the days go: the month view as before, the day view without them.
            Assert.Equal(months[user], await BodyAsync(client, user, "month"));
            var after = Points(await BodyAsync(client, user, "day")).EnumerateArray().Select(p => p.GetProperty("periodStart").GetString()).ToList();
            Assert.True(after.Count < Points(days[user]).GetArrayLength());
            Assert.All(after, day => Assert.True(string.CompareOrdinal(day, "2025-06-01") >= 0, $"{day} was let go"));
        }

        // Days written after the roll-up join the months after it: a new day in August moves only August's point.
        await client.RunDayAsync(new DateOnly(2025, 8, 5));
        var moved = Points(await BodyAsync(client, history.Active[0], "month"));
        var before = Points(months[history.Active[0]]);
        Assert.Equal(before.GetArrayLength(), moved.GetArrayLength());
        for (var i = 0; i < before.GetArrayLength() - 1; i++)
            Assert.Equal(before[i].GetRawText(), moved[i].GetRawText());
        Assert.NotEqual(before[before.GetArrayLength() - 1].GetRawText(), moved[moved.GetArrayLength() - 1].GetRawText());
    }

    /// <summary>Nothing let go: every closed month is rolled up as it closes and keeps its daily rows (issue 27).</summary>
    private static readonly Dictionary<string, string?> KeepEveryMonthDaily = new(RolledHistory.Settings) { ["History:KeepDailyMonths"] = "60" };

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Months_rolled_up_as_they_close_are_read_from_their_roll_ups_with_the_same_points_and_a_begun_month_from_its_days(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, KeepEveryMonthDaily);
        var history = await RolledHistory.SeedAsync(app);
        var reader = app.Services.GetRequiredService<AssetSeriesReader>();
        // Ranges on month boundaries (a rolled-up month is read whole), one ending in August's days, one in the roll-ups only.
        (DateOnly From, DateOnly To)[] ranges = [(new(2025, 3, 1), RolledHistory.Today), (new(2025, 3, 1), new(2025, 7, 31))];
        var before = new Dictionary<(long, int), IReadOnlyList<AssetSeriesPoint>>();
        foreach (var user in history.Active)
        {
            for (var r = 0; r < ranges.Length; r++)
                before[(user, r)] = await MonthsAsync(reader, user, ranges[r]);
        }
        Assert.Equal(6, before[(history.Active[0], 0)].Count);
        Assert.Contains(before.Values.SelectMany(p => p), p => p.NetFlow != 0);

        await RolledHistory.RunLifecycleAsync(app);

        await using (var db = database.CreateContext())
        {
            // March to July rolled up as closed months, none sealed and every daily row kept.
            var months = await db.AssetRolledUpMonths.AsNoTracking().OrderBy(m => m.Month).ToListAsync();
            Assert.Equal([new(2025, 3, 1), new(2025, 4, 1), new(2025, 5, 1), new(2025, 6, 1), new(2025, 7, 1)], months.Select(m => m.Month).ToList());
            Assert.All(months, m => Assert.Equal((true, false), (m.RolledUpAt is not null, m.SealedAt is not null)));
            Assert.True(await db.DailyAssetSnapshots.AnyAsync(s => s.SnapshotDay < new DateOnly(2025, 4, 1)));
        }
        // The same points, to the multiplier's bits (record equality compares the doubles exactly) and the colour.
        foreach (var ((user, r), points) in before)
            Assert.Equal(points, await MonthsAsync(reader, user, ranges[r]));

        // Read from the roll-up, not the days: a roll-up changed by hand shows in its month's point, and only there.
        var (watched, may, july) = (history.Active[1], new DateOnly(2025, 5, 1), new DateOnly(2025, 7, 1));
        await AddToRollupClosingAsync(database, watched, may, 1);
        var edited = await MonthsAsync(reader, watched, ranges[0]);
        Assert.Equal(before[(watched, 0)].Select(p => p.PeriodStart == may ? p.ClosingAmount + 1 : p.ClosingAmount), edited.Select(p => p.ClosingAmount));
        await AddToRollupClosingAsync(database, watched, may, -1);

        // A begun month (its roll-up under way: some users' rows written, rolled_up_at not yet) is read from its days.
        await using (var db = database.CreateContext())
            Assert.Equal(1, await db.AssetRolledUpMonths.Where(m => m.Month == july).ExecuteUpdateAsync(m => m.SetProperty(x => x.RolledUpAt, (DateTimeOffset?)null)));
        await AddToRollupClosingAsync(database, watched, july, 1);
        Assert.Equal(before[(watched, 0)], await MonthsAsync(reader, watched, ranges[0]));
        Assert.Equal(before[(watched, 1)], await MonthsAsync(reader, watched, ranges[1]));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_adjustment_into_a_month_rolled_up_early_moves_its_month_point_through_the_cache(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, KeepEveryMonthDaily);
        var client = app.CreateClient();
        await RolledHistory.SeedAsync(app);
        // Visible, but refreshed last in April: its balance (the pointer) lies in a month that closed and is rolled up.
        var quiet = await app.AddUserAsync(AccountStatus.Active, (new DateOnly(2025, 4, 3), 8_000_000), (new DateOnly(2025, 4, 7), 8_200_000));
        await RolledHistory.RunLifecycleAsync(app);
        await using (var db = database.CreateContext())
            Assert.Equal(8_200_000, (await db.AssetMonthRollups.AsNoTracking().SingleAsync(r => r.UserId == quiet)).ClosingAmount);
        // Cached by the first read: the second answer comes from the cache unless the adjustment evicts it.
        var before = Points(await BodyAsync(client, quiet, "month"));
        Assert.Equal(["2025-04-01"], before.EnumerateArray().Select(p => p.GetProperty("periodStart").GetString()).ToList());

        await RolledHistory.AdjustAsync(client, quiet, 50_000, "quiet-reward");

        var april = Assert.Single(Points(await BodyAsync(client, quiet, "month")).EnumerateArray());
        Assert.Equal((8_250_000L, 50_000L), (april.GetProperty("closingAmount").GetInt64(), april.GetProperty("netFlow").GetInt64()));
        await using (var db = database.CreateContext())
        {
            var rollup = await db.AssetMonthRollups.AsNoTracking().SingleAsync(r => r.UserId == quiet);
            Assert.Equal((8_250_000L, 50_000L), (rollup.ClosingAmount, rollup.NetFlow));
        }
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_month_rolled_up_reads_whole_from_then_on_and_the_cached_graph_whose_range_began_inside_it_follows(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, KeepEveryMonthDaily);
        var client = app.CreateClient();
        var history = await RolledHistory.SeedAsync(app);
        var user = history.Active[0];
        // From April 10th: before April is rolled up its point is summed from the 20th alone (the 2nd is before the range).
        const string fromInsideApril = "from=2025-04-10&to=2025-08-10&interval=month";
        var partial = await client.GetStringAsync($"/api/users/{user}/asset-series?{fromInsideApril}");

        await RolledHistory.RunLifecycleAsync(app);

        string whole;
        await using (var uncached = new CoreServerApp(database, new Dictionary<string, string?>(KeepEveryMonthDaily) { ["SeriesCache:Enabled"] = "false" }))
            whole = await uncached.CreateClient().GetStringAsync($"/api/users/{user}/asset-series?{fromInsideApril}");
        // April now reads whole, the 2nd's market move in its multiplier: another answer, and the cache gives it too.
        Assert.NotEqual(Points(partial)[0].GetRawText(), Points(whole)[0].GetRawText());
        Assert.Equal(whole, await client.GetStringAsync($"/api/users/{user}/asset-series?{fromInsideApril}"));
    }

    private static async Task<IReadOnlyList<AssetSeriesPoint>> MonthsAsync(AssetSeriesReader reader, long user, (DateOnly From, DateOnly To) range) =>
        (await reader.ReadAsync(user, range.From, range.To, SeriesInterval.Month, CancellationToken.None))!.Points;

    private static async Task AddToRollupClosingAsync(TestDatabase database, long user, DateOnly month, long amount)
    {
        await using var db = database.CreateContext();
        Assert.Equal(1, await db.AssetMonthRollups.Where(r => r.UserId == user && r.Month == month)
            .ExecuteUpdateAsync(r => r.SetProperty(x => x.ClosingAmount, x => x.ClosingAmount + amount)));
    }

    private static async Task<string> BodyAsync(HttpClient client, long user, string interval)
    {
        var response = await client.GetAsync($"/api/users/{user}/asset-series?{Range}&interval={interval}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"HTTP {(int)response.StatusCode}: {body}");
        return body;
    }

    private static JsonElement Points(string body) => JsonDocument.Parse(body).RootElement.GetProperty("points").Clone();
}
