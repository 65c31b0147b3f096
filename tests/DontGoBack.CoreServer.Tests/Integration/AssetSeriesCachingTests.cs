using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class AssetSeriesCachingTests
{
    private static readonly DateOnly Today = DateOnly.FromDateTime(CoreServerApp.DefaultNow.UtcDateTime);
    private static readonly AssetColourPolicy Colours = new(Options.Create(new AssetColourOptions()));
    private static readonly string[] Intervals = ["day", "week", "month"];

    private static string SeriesPath(long userId, string interval = "day", string? from = null) =>
        $"/api/users/{userId}/asset-series?interval={interval}" + (from is null ? "" : $"&from={from}");

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_series_carries_a_strong_etag_revalidates_to_304_and_gets_a_new_tag_after_a_reward(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Today.AddDays(-2), 9_000_000), (Today.AddDays(-1), 10_000_000));

        var first = await client.GetAsync(SeriesPath(user));
        var again = await client.GetAsync(SeriesPath(user));
        var revalidated = await GetAsync(client, SeriesPath(user), first.Headers.ETag);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var etag = first.Headers.ETag!;
        Assert.False(etag.IsWeak);
        Assert.Equal((true, true, false), (first.Headers.CacheControl!.NoCache, first.Headers.CacheControl.Public, first.Headers.CacheControl.MaxAge.HasValue));
        // The second answer came from the server's cache (it says how old it is) and is the same answer.
        Assert.NotNull(again.Headers.Age);
        Assert.Equal(etag, again.Headers.ETag);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await again.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);
        Assert.Equal(etag, revalidated.Headers.ETag);
        Assert.Empty(await revalidated.Content.ReadAsByteArrayAsync());

        var reward = await client.PostAsJsonAsync($"/internal/users/{user}/asset-adjustments", new { amount = 500_000, reason = "quiz" });
        var afterReward = await GetAsync(client, SeriesPath(user), etag);

        Assert.Equal(HttpStatusCode.OK, reward.StatusCode);
        Assert.Equal(HttpStatusCode.OK, afterReward.StatusCode);
        Assert.NotEqual(etag, afterReward.Headers.ETag);
        using var body = JsonDocument.Parse(await afterReward.Content.ReadAsStringAsync());
        Assert.Equal("1050만", body.RootElement.GetProperty("nickname").GetString());
        Assert.Equal(10_500_000, body.RootElement.GetProperty("points").EnumerateArray().Last().GetProperty("closingAmount").GetInt64());
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Week_and_month_views_of_a_year_equal_the_day_rows_folded_by_the_series_rule(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var random = new Random(14);
        var amount = 10_000_000L;
        // A year and a half with holes, so periods start and end on days without snapshots.
        var history = Enumerable.Range(0, 540).Where(_ => random.Next(10) > 0)
            .Select(offset => (Today.AddDays(-540 + offset), amount = Math.Max(0, amount + random.Next(-300_000, 300_001))))
            .ToArray();
        var user = await app.AddUserAsync(AccountStatus.Active, history);
        var from = Today.AddDays(-364);

        foreach (var interval in Intervals)
        {
            var expected = await TruthAsync(app, user, interval, from);
            var answer = await client.GetAsync(SeriesPath(user, interval, from.ToString("yyyy-MM-dd")));
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal(expected, await PointsAsync(answer));
        }
    }

    /// <summary>
    /// Readers hammer every user's day, week and month graphs (filling the cache) while rewards,
    /// penalties and refreshes — back-fills that re-base later days included — change them. After
    /// each write returns, every graph it touched must equal what the database now says.
    /// </summary>
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Reads_racing_rewards_penalties_and_refreshes_never_see_a_graph_older_than_the_last_write(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        // The readers ask far more often than the public rate limit lets one address.
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["PublicRateLimit:Enabled"] = "false" });
        var client = app.CreateClient();
        // Holes on alternate days: refreshing them re-bases the days after, which also changes the graph.
        var users = new List<long>();
        for (var i = 0; i < 4; i++)
        {
            users.Add(await app.AddUserAsync(AccountStatus.Active,
                (Today.AddDays(-8), 10_000_000), (Today.AddDays(-6), 10_100_000 + i), (Today.AddDays(-4), 10_200_000), (Today.AddDays(-2), 10_300_000)));
        }

        using var stop = new CancellationTokenSource();
        var readerHits = 0;
        var readers = Enumerable.Range(0, 4).Select(r => Task.Run(async () =>
        {
            var random = new Random(r);
            while (!stop.IsCancellationRequested)
            {
                using var answer = await client.GetAsync(SeriesPath(users[random.Next(users.Count)], Intervals[random.Next(3)]));
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
                if (answer.Headers.Age is not null)
                    Interlocked.Increment(ref readerHits);
            }
        })).ToArray();

        var stale = new List<string>();
        var checks = 0;
        var random = new Random(7);
        var refreshDays = new Queue<DateOnly>([Today.AddDays(-5), Today.AddDays(-7), Today.AddDays(-3), Today.AddDays(-1)]);
        for (var step = 0; step < 24; step++)
        {
            IReadOnlyList<long> touched;
            if (step % 6 == 5 && refreshDays.TryDequeue(out var day))
            {
                await AssertCachedAsync(client, users);
                var result = await client.RunDayAsync(day);
                Assert.Equal(users.Count, result.Success);
                touched = users;
            }
            else
            {
                var user = users[random.Next(users.Count)];
                await AssertCachedAsync(client, [user]);
                var amount = random.Next(2) == 0 ? 250_000 : -50_000;
                var adjusted = await client.PostAsJsonAsync($"/internal/users/{user}/asset-adjustments", new { amount, reason = $"step {step}" });
                Assert.Equal(HttpStatusCode.OK, adjusted.StatusCode);
                touched = [user];
            }

            foreach (var user in touched)
            {
                foreach (var interval in Intervals)
                {
                    checks++;
                    var expected = await TruthAsync(app, user, interval, from: null);
                    var (nickname, points) = await NicknameAndPointsAsync(await client.GetAsync(SeriesPath(user, interval)));
                    if (!points.SequenceEqual(expected) || nickname != await NicknameTruthAsync(app, user))
                        stale.Add($"step {step}, user {user}, {interval}");
                }
            }
        }
        await stop.CancelAsync();
        await Task.WhenAll(readers);

        Assert.Empty(stale);
        Assert.Equal(3 * (20 + 4 * users.Count), checks);
        Assert.True(readerHits > 0, "the readers were never answered from the cache, so staleness had no chance");
        await database.AssertChainHoldsAsync();
    }

    [Fact]
    public async Task A_reward_on_one_replica_evicts_the_graph_another_replica_cached()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var writer = new CoreServerApp(database);
        await using var reader = new CoreServerApp(database);
        var (writerClient, readerClient) = (writer.CreateClient(), reader.CreateClient());
        var user = await writer.AddUserAsync(AccountStatus.Active, (Today.AddDays(-1), 10_000_000));
        await readerClient.GetAsync(SeriesPath(user));
        var cached = await readerClient.GetAsync(SeriesPath(user));
        Assert.NotNull(cached.Headers.Age);

        var reward = await writerClient.PostAsJsonAsync($"/internal/users/{user}/asset-adjustments", new { amount = 500_000, reason = "quiz" });

        Assert.Equal(HttpStatusCode.OK, reward.StatusCode);
        // The other replica hears of it through NOTIFY, after the writer's answer: soon, not at once.
        await Eventually.UntilAsync(async () =>
            (await NicknameAndPointsAsync(await readerClient.GetAsync(SeriesPath(user)))).Nickname == "1050만", TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData("stopped")]
    [InlineData("terminated")]
    public async Task A_change_published_while_the_listeners_backend_is_stopped_or_terminated_is_read_within_the_staleness_bound(string fate)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["SeriesCache:StalenessBound"] = "00:00:01" });
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (Today.AddDays(-1), 10_000_000));
        // Proof the cache answers while the listener is live, so a stale answer had its chance.
        await Eventually.UntilAsync(async () => (await client.GetAsync(SeriesPath(user))).Headers.Age is not null, TimeSpan.FromSeconds(10));
        await using var admin = new NpgsqlConnection(database.ConnectionString);
        await admin.OpenAsync();
        var listener = await ListenerBackendAsync(admin);

        if (fate == "stopped")
            Signal("STOP", listener);
        else
            await ExecuteAsync(admin, "SELECT pg_terminate_backend(@pid)", ("pid", listener));
        try
        {
            // Another process's reward, as it writes it: the rows, then the NOTIFY that the stopped listener never passes on.
            await ExecuteAsync(admin, """
                UPDATE daily_asset_snapshots SET net_flow = net_flow + 500000, closing_amount = closing_amount + 500000 WHERE user_id = @user;
                SELECT pg_notify(@channel, 'another-process:' || @user);
                """, ("user", user), ("channel", SeriesChangeFeed.Channel));

            // A StalenessBound of 1 s: the original kept the cached graph for SeriesCache:Lifetime (10 min).
            await Eventually.UntilAsync(async () =>
                (await NicknameAndPointsAsync(await client.GetAsync(SeriesPath(user)))).Nickname == "1050만", TimeSpan.FromSeconds(15));
        }
        finally
        {
            if (fate == "stopped")
                Signal("CONT", listener);
        }

        // Back to normal: a listener is confirmed again (a new session, or the old one resumed) and the cache answers again.
        await Eventually.UntilAsync(async () => (await client.GetAsync(SeriesPath(user))).Headers.Age is not null, TimeSpan.FromSeconds(15));
        Assert.Equal("1050만", (await NicknameAndPointsAsync(await client.GetAsync(SeriesPath(user)))).Nickname);
    }

    /// <summary>The backend process of the server's listening session, once it listens.</summary>
    private static async Task<int> ListenerBackendAsync(NpgsqlConnection admin)
    {
        int? pid = null;
        await Eventually.UntilAsync(async () =>
        {
            await using var find = new NpgsqlCommand(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = @name", admin);
            find.Parameters.AddWithValue("name", SeriesChangeFeed.ApplicationName);
            pid = await find.ExecuteScalarAsync() as int?;
            return pid is not null;
        }, TimeSpan.FromSeconds(10));
        return pid!.Value;
    }

    /// <summary>The test's PostgreSQL runs as its own user on this machine, which the tests' user (root) may signal.</summary>
    private static void Signal(string signal, int pid)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.True(kill.ExitCode == 0, $"kill -{signal} {pid} exited {kill.ExitCode}");
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Proof that the graphs about to change were in the cache, so a missed eviction would show.</summary>
    private static async Task AssertCachedAsync(HttpClient client, IEnumerable<long> users)
    {
        foreach (var user in users)
        {
            foreach (var interval in Intervals)
            {
                await client.GetAsync(SeriesPath(user, interval));
                var cached = await client.GetAsync(SeriesPath(user, interval));
                Assert.True(cached.Headers.Age is not null, $"user {user} {interval}: {cached.StatusCode} {cached.Headers}");
            }
        }
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, string path, EntityTagHeaderValue? ifNoneMatch)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (ifNoneMatch is not null)
            request.Headers.IfNoneMatch.Add(ifNoneMatch);
        return await client.SendAsync(request);
    }

    /// <summary>The graph from the database's rows, folded by the series rule in process.</summary>
    private static async Task<List<AssetSeriesPoint>> TruthAsync(CoreServerApp app, long user, string interval, DateOnly? from)
    {
        var first = from ?? Today.AddDays(-AssetEndpoints.DefaultSeriesDays + 1);
        Assert.True(AssetSeries.TryParseInterval(interval, out var parsed));
        var days = (await app.SnapshotsOfAsync(user)).Where(s => s.SnapshotDay >= first && s.SnapshotDay <= Today)
            .Select(s => new DailySnapshotPoint(s.SnapshotDay, s.ClosingAmount, s.MarketMultiplier, s.NetFlow));
        return [.. AssetSeries.Build(days, parsed, Colours)];
    }

    private static async Task<string> NicknameTruthAsync(CoreServerApp app, long user)
    {
        var currentDay = await app.CurrentDayOfAsync(user);
        return AssetNickname.Format((await app.SnapshotsOfAsync(user)).Single(s => s.SnapshotDay == currentDay).ClosingAmount);
    }

    private static async Task<List<AssetSeriesPoint>> PointsAsync(HttpResponseMessage answer) => (await NicknameAndPointsAsync(answer)).Points;

    private static async Task<(string? Nickname, List<AssetSeriesPoint> Points)> NicknameAndPointsAsync(HttpResponseMessage answer)
    {
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        using var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        return (body.RootElement.GetProperty("nickname").GetString(),
            body.RootElement.GetProperty("points").Deserialize<List<AssetSeriesPoint>>(JsonSerializerOptions.Web)!);
    }
}
