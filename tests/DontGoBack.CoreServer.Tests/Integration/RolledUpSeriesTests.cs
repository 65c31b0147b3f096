using System.Text.Json;
using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Tests.Infrastructure;

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

    private static async Task<string> BodyAsync(HttpClient client, long user, string interval)
    {
        var response = await client.GetAsync($"/api/users/{user}/asset-series?{Range}&interval={interval}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"HTTP {(int)response.StatusCode}: {body}");
        return body;
    }

    private static JsonElement Points(string body) => JsonDocument.Parse(body).RootElement.GetProperty("points").Clone();
}
