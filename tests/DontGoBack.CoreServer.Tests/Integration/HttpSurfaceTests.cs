using System.Net;
using System.Net.Http.Json;
using System.Text;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>Access control, error shapes and input limits that every endpoint shares.</summary>
public sealed class HttpSurfaceTests
{
    private static readonly DateOnly Yesterday = new(2025, 8, 9);
    private const string TriggerToday = RefreshRuns.Path + "?day=2025-08-10";

    [Fact]
    public async Task Configured_networks_replace_loopback_instead_of_joining_it()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["InternalAccess:AllowedNetworks:0"] = "10.0.0.0/8",
        });
        var client = app.CreateClient();

        await (await client.PostAsync(TriggerToday, null)).AssertProblemAsync(HttpStatusCode.Forbidden, "127.0.0.1");
        app.RemoteAddress = IPAddress.Parse("10.1.2.3");
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync(TriggerToday, null)).StatusCode);
    }

    [Theory]
    [InlineData("X-Forwarded-For", "127.0.0.1")]
    [InlineData("Forwarded", "for=127.0.0.1")]
    [InlineData("X-Real-IP", "127.0.0.1")]
    public async Task Forwarded_headers_are_ignored_without_trusted_proxies(string header, string value)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database) { RemoteAddress = IPAddress.Parse("203.0.113.7") };
        var request = new HttpRequestMessage(HttpMethod.Post, TriggerToday);
        request.Headers.TryAddWithoutValidation(header, value);

        var response = await app.CreateClient().SendAsync(request);

        await response.AssertProblemAsync(HttpStatusCode.Forbidden, "203.0.113.7");
    }

    [Fact]
    public async Task A_trusted_proxy_passes_on_the_client_address_and_nobody_else_can()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["ForwardedHeaders:TrustedProxies:0"] = "192.0.2.10",
        }) { RemoteAddress = IPAddress.Parse("192.0.2.10") };
        var client = app.CreateClient();

        Assert.Equal(HttpStatusCode.OK, (await PostFromAsync(client, "127.0.0.1")).StatusCode);
        // The proxy forwards a foreign client: refused by the client's address, not allowed by the proxy's.
        await (await PostFromAsync(client, "198.51.100.4")).AssertProblemAsync(HttpStatusCode.Forbidden, "198.51.100.4");
        // A caller that is not the trusted proxy cannot claim an address.
        app.RemoteAddress = IPAddress.Parse("198.51.100.4");
        await (await PostFromAsync(client, "127.0.0.1")).AssertProblemAsync(HttpStatusCode.Forbidden, "198.51.100.4");

        static Task<HttpResponseMessage> PostFromAsync(HttpClient client, string forwardedFor)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, TriggerToday);
            request.Headers.Add("X-Forwarded-For", forwardedFor);
            return client.SendAsync(request);
        }
    }

    [Theory]
    [InlineData(AccountStatus.Inactive)]
    [InlineData(AccountStatus.Suspended)]
    public async Task Series_of_a_profile_that_is_not_visible_is_a_404(AccountStatus status)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var hidden = await app.AddUserAsync(status, (Yesterday, 10_000_000));
        var visible = await app.AddUserAsync(AccountStatus.Active, (Yesterday, 10_000_000));
        var client = app.CreateClient();

        await (await client.GetAsync($"/api/users/{hidden}/asset-series")).AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/users/{visible}/asset-series")).StatusCode);
    }

    [Fact]
    public async Task The_public_api_is_rate_limited_per_address_with_a_retry_after_problem()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["PublicRateLimit:PermitsPerSecond"] = "1",
            ["PublicRateLimit:Burst"] = "2",
        });
        var user = await app.AddUserAsync(AccountStatus.Active, (Yesterday, 10_000_000));
        var client = app.CreateClient();
        var series = $"/api/users/{user}/asset-series";

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(series)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(series)).StatusCode);
        var refused = await client.GetAsync(series);

        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests, "retry after");
        Assert.True(int.Parse(refused.Headers.GetValues("Retry-After").Single()) >= 1);
        // Another address has its own budget, and the internal API is not the public one.
        app.RemoteAddress = IPAddress.Parse("127.0.0.2");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(series)).StatusCode);
        app.RemoteAddress = IPAddress.Loopback;
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/internal/batch/runs")).StatusCode);
    }

    [Fact]
    public async Task Unknown_routes_wrong_methods_and_media_types_are_problems()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var user = await app.AddUserAsync(AccountStatus.Active, (Yesterday, 10_000_000));
        var client = app.CreateClient();

        await (await client.GetAsync("/api/nothing-here")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await client.GetAsync("/internal/nothing-here")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await client.GetAsync("/api/users/99999999999999999999999/asset-series")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await client.GetAsync($"/internal/users/{user}/asset-adjustments")).AssertProblemAsync(HttpStatusCode.MethodNotAllowed, "GET");
        await (await client.PostAsync($"/internal/users/{user}/asset-adjustments", new StringContent("amount=5", Encoding.UTF8, "text/plain")))
            .AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
        var unknownCharset = new StringContent("""{"amount":5,"reason":"quiz"}""");
        unknownCharset.Headers.Remove("Content-Type");
        unknownCharset.Headers.TryAddWithoutValidation("Content-Type", "application/json; charset=nonsense");
        await (await client.PostAsync($"/internal/users/{user}/asset-adjustments", unknownCharset))
            .AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "UTF-8");
        await (await client.GetAsync("/internal/batch/runs?job=a%00b")).AssertProblemAsync(HttpStatusCode.BadRequest, "asset-refresh");
        Assert.Empty(await app.ChangesOfAsync(user));
    }

    [Theory]
    [InlineData("""{"amount":"500","reason":"quiz"}""", "$.amount")]
    [InlineData("""{"amount":5e2,"reason":"quiz"}""", "$.amount")]
    [InlineData("""{"amount":99999999999999999999,"reason":"quiz"}""", "$.amount")]
    [InlineData("{\"amount\":500,\"reason\":\"qu", "")]
    [InlineData("not json", "")]
    [InlineData("", "")]
    public async Task Malformed_or_loosely_typed_bodies_are_400_problems_and_change_nothing(string body, string mentions)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var user = await app.AddUserAsync(AccountStatus.Active, (Yesterday, 10_000_000));

        var response = await app.CreateClient().PostAsync($"/internal/users/{user}/asset-adjustments",
            new StringContent(body, Encoding.UTF8, "application/json"));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, mentions);
        Assert.Empty(await app.ChangesOfAsync(user));
        Assert.Equal(10_000_000, (await app.SnapshotsOfAsync(user)).Single().ClosingAmount);
    }

    [Theory]
    [InlineData(RefreshRuns.Path + "?day=1999-12-31", "earliest")]
    [InlineData(RefreshRuns.Path + "?day=0001-01-01", "earliest")]
    [InlineData(RefreshRuns.Path + "?day=9999-12-31", "has not begun")]
    public async Task Trigger_days_outside_the_supported_range_are_400(string path, string mentions)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        await app.AddUserAsync(AccountStatus.Active, (Yesterday, 10_000_000));

        await (await app.CreateClient().PostAsync(path, null)).AssertProblemAsync(HttpStatusCode.BadRequest, mentions);
        Assert.Equal(0, app.Extension.TotalCalls);
    }

    [Theory]
    [InlineData("?from=0001-01-01&to=0001-01-31", "earliest")]
    [InlineData("?to=9999-12-31", "latest day")]
    [InlineData("?from=2025-08-11", "latest day")]
    [InlineData("?to=2000-01-05&interval=week", null)]
    [InlineData("?to=2000-01-05&interval=month", null)]
    public async Task Series_days_are_bounded_and_edge_days_never_throw(string query, string? mentions)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var user = await app.AddUserAsync(AccountStatus.Active, (new DateOnly(2000, 1, 1), 10_000_000));

        var response = await app.CreateClient().GetAsync($"/api/users/{user}/asset-series{query}");

        if (mentions is null)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("\"from\":\"2000-01-01\"", await response.Content.ReadAsStringAsync());
        }
        else
        {
            await response.AssertProblemAsync(HttpStatusCode.BadRequest, mentions);
        }
    }

    [Theory]
    [InlineData("?page=2147483647", "page is 1 to")]
    [InlineData("?page=0", "page is 1 to")]
    [InlineData("?pageSize=501", "pageSize is 1 to")]
    [InlineData("?page=99999999999", "page")]
    [InlineData("?page=abc", "page")]
    public async Task Paging_is_bounded(string query, string mentions)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        await app.AddUserAsync(AccountStatus.Active, (Yesterday, 10_000_000));
        var client = app.CreateClient();
        var run = await client.RunDayAsync(new DateOnly(2025, 8, 10));

        await (await client.GetAsync($"/internal/batch/runs/{run.RunId}{query}")).AssertProblemAsync(HttpStatusCode.BadRequest, mentions);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_reason_with_characters_postgres_refuses_is_stored_cleaned_and_such_a_key_is_refused(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var user = await app.AddUserAsync(AccountStatus.Active, (Yesterday, 10_000_000));
        var client = app.CreateClient();
        var path = $"/internal/users/{user}/asset-adjustments";

        var applied = await client.PostAsync(path, Json("""{"amount":100,"reason":"quiz\u0000 win\u0007 🎉","idempotencyKey":"k-1"}"""));
        var badKey = await client.PostAsync(path, Json("""{"amount":100,"reason":"quiz","idempotencyKey":"k\u0000-2"}"""));
        var loneSurrogate = await client.PostAsync(path, Json("""{"amount":100,"reason":"quiz \ud800"}"""));
        var onlyControls = await client.PostAsync(path, Json("""{"amount":100,"reason":"\u0000\u0001"}"""));

        Assert.Equal(HttpStatusCode.OK, applied.StatusCode);
        await badKey.AssertProblemAsync(HttpStatusCode.BadRequest, "idempotencyKey");
        await loneSurrogate.AssertProblemAsync(HttpStatusCode.BadRequest);
        await onlyControls.AssertProblemAsync(HttpStatusCode.BadRequest, "reason is required");
        var change = Assert.Single(await app.ChangesOfAsync(user));
        Assert.Equal(("quiz win 🎉", "k-1", 10_000_100L), (change.Reason, change.IdempotencyKey, change.AmountAfter));
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
