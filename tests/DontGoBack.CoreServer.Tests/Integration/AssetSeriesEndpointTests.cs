using System.Net;
using System.Text.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class AssetSeriesEndpointTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Weekly_series_has_the_last_closing_the_summed_net_flow_and_a_market_only_colour(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active);
        // Week of Mon 2025-07-28: a losing market with a big reward. Week of Mon 2025-08-04: a winning market.
        await AddSnapshotsAsync(app, user,
            (new DateOnly(2025, 7, 30), 10_000_000, 0.98, 0),
            (new DateOnly(2025, 7, 31), 12_000_000, 1.0, 2_200_000),
            (new DateOnly(2025, 8, 5), 12_600_000, 1.05, 0));

        var response = await client.GetAsync($"/api/users/{user}/asset-series?from=2025-07-28&to=2025-08-10&interval=week");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("1260만", body.RootElement.GetProperty("nickname").GetString());
        var points = body.RootElement.GetProperty("points").EnumerateArray().ToArray();
        Assert.Equal(2, points.Length);
        Assert.Equal(("2025-07-28", 12_000_000L, 2_200_000L, "RED"), Point(points[0]));
        Assert.Equal(("2025-08-04", 12_600_000L, 0L, "BLUE"), Point(points[1]));
    }

    [Fact]
    public async Task Bad_series_requests_are_400_and_an_unknown_user_404()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (new DateOnly(2025, 8, 9), 1));

        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"/api/users/{user}/asset-series?interval=hour")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"/api/users/{user}/asset-series?from=2025-08-10&to=2025-08-01")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"/api/users/{user}/asset-series?from=08/01/2025")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/users/{user + 1}/asset-series")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/users/{user}/asset-series")).StatusCode);
    }

    [Fact]
    public async Task Profile_reads_on_postgres_share_a_pool_of_their_own_bounded_by_its_size()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Database:PublicReadPoolSize"] = "1",
            // Every request reads the database, so all of them need the one connection.
            ["SeriesCache:Enabled"] = "false",
            ["PublicRateLimit:Enabled"] = "false",
        });
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active, (new DateOnly(2025, 8, 9), 1));

        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => client.GetAsync($"/api/users/{user}/asset-series")));

        Assert.All(answers, answer => Assert.Equal(HttpStatusCode.OK, answer.StatusCode));
        Assert.Equal(1L, await PublicReadSessionsAsync(database));
        // Nothing these reads run leaves state behind in a session, so their statements share connections (the README's read path).
        var reads = app.Services.GetRequiredKeyedService<NpgsqlDataSource>(DatabaseOptions.PublicReadPool);
        Assert.True(new NpgsqlConnectionStringBuilder(reads.ConnectionString).Multiplexing);
    }

    [Fact]
    public async Task A_server_on_postgres_has_its_profile_read_connections_open_before_the_first_request()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        Assert.Equal(0L, await PublicReadSessionsAsync(database));
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["Database:PublicReadPoolSize"] = "2" });

        // Started (the host's hosted services ran), and not one request sent: any session of the read pool is the warm-up's.
        _ = app.Services;
        var sessions = await PublicReadSessionsAsync(database);
        Assert.InRange(sessions, 1L, 2L);
    }

    /// <summary>Sessions of the public read pool on the test's database, as PostgreSQL lists them.</summary>
    private static async Task<long> PublicReadSessionsAsync(TestDatabase database)
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var sessions = new NpgsqlCommand(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = @name", connection);
        sessions.Parameters.AddWithValue("name", PersistenceExtensions.PublicReadApplicationName);
        return (long)(await sessions.ExecuteScalarAsync())!;
    }

    private static (string, long, long, string) Point(JsonElement point) => (
        point.GetProperty("periodStart").GetString()!, point.GetProperty("closingAmount").GetInt64(),
        point.GetProperty("netFlow").GetInt64(), point.GetProperty("colour").GetString()!);

    private static async Task AddSnapshotsAsync(CoreServerApp app, long userId, params (DateOnly Day, long Closing, double Multiplier, long NetFlow)[] days)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        DailyAssetSnapshot? last = null;
        foreach (var (day, closing, multiplier, netFlow) in days)
        {
            var opening = (long)Math.Round((closing - netFlow) / multiplier);
            last = new DailyAssetSnapshot
            {
                UserId = userId, SnapshotDay = day, OpeningAmount = opening, ClosingAmount = closing,
                MarketMultiplier = multiplier, MarketDelta = closing - netFlow - opening, NetFlow = netFlow,
            };
            db.DailyAssetSnapshots.Add(last);
        }
        await db.SaveChangesAsync();
        (await db.Users.FindAsync(userId))!.PointAt(last);
        await db.SaveChangesAsync();
    }
}
