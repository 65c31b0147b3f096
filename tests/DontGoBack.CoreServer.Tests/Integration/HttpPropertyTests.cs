using System.Text.Json;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static DontGoBack.CoreServer.Tests.Infrastructure.HostileRequests;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// Per endpoint, generated requests of every shape: never a 5xx, every error a problem+json
/// whose status matches, and nothing in the database changed by an answer in the 4xx range.
/// </summary>
public sealed class HttpPropertyTests
{
    private const int Cases = 70;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public Task Asset_adjustments_take_any_request_cleanly(DatabaseProvider provider) =>
        CheckAsync(provider, users =>
            from method in Method("POST")
            from id in Id(users)
            from contentType in ContentType
            from body in AdjustmentBody
            select new HostileRequest(method, $"/internal/users/{Escape(id)}/asset-adjustments", contentType, body));

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public Task Asset_series_takes_any_request_cleanly(DatabaseProvider provider) =>
        CheckAsync(provider, users =>
            from method in Method("GET")
            from id in Id(users)
            from first in Optional(Day)
            from to in Optional(Day)
            from interval in Optional(Gen.OneOf(Gen.Elements("day", "week", "month", "DAY", "year"), Text))
            select new HostileRequest(method, $"/api/users/{Escape(id)}/asset-series" + Query(("from", first), ("to", to), ("interval", interval)), null, ""));

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public Task Manual_trigger_takes_any_request_cleanly(DatabaseProvider provider) =>
        CheckAsync(provider, _ =>
            from method in Method("POST")
            from day in Optional(Day)
            from contentType in ContentType
            from body in Gen.OneOf(Gen.Constant(""), Text)
            select new HostileRequest(method, RefreshRuns.Path + Query(("day", day)), contentType, body));

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public Task Run_list_takes_any_request_cleanly(DatabaseProvider provider) =>
        CheckAsync(provider, _ =>
            from method in Method("GET")
            from job in Optional(Gen.OneOf(Gen.Elements("asset-refresh", "asset-refresh-subset"), Text))
            from first in Optional(Day)
            from to in Optional(Day)
            select new HostileRequest(method, "/internal/batch/runs" + Query(("job", job), ("from", first), ("to", to)), null, ""));

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public Task Run_detail_takes_any_request_cleanly(DatabaseProvider provider) =>
        CheckAsync(provider, _ =>
            from method in Method("GET")
            from id in Id(1, 2)
            from page in Optional(PageNumber)
            from pageSize in Optional(PageNumber)
            select new HostileRequest(method, $"/internal/batch/runs/{Escape(id)}" + Query(("page", page), ("pageSize", pageSize)), null, ""));

    private static async Task CheckAsync(DatabaseProvider provider, Func<long[], Gen<HostileRequest>> requests)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        // The limiter has its own test; here it would only turn generated requests into 429s.
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["PublicRateLimit:Enabled"] = "false" });
        var yesterday = new DateOnly(2025, 8, 9);
        var users = (await app.AddActiveUsersAsync(3, yesterday, 10_000_000)).ToList();
        users.Add(await app.AddUserAsync(AccountStatus.Inactive, (yesterday, 10_000_000)));
        var client = app.CreateClient();
        // Two recorded runs with a failed user, so ids and pages meet real rows.
        app.Extension.Inject(FakeExtensionServer.Fault.BadRequest, users[0]);
        await client.RunDayAsync(yesterday.AddDays(-1));
        await client.RunDayAsync(yesterday.AddDays(1));
        app.Extension.ClearFaults();

        var property = Prop.ForAll(requests([.. users]).ToArbitrary(), request => AnswersCleanlyAsync(app, client, request));
        // Off xUnit's synchronisation context: FsCheck waits on each case's task.
        await Task.Run(() => Check.One(Config.QuickThrowOnFailure.WithMaxTest(Cases), property));
    }

    private static async Task<bool> AnswersCleanlyAsync(CoreServerApp app, HttpClient client, HostileRequest request)
    {
        var before = await FingerprintAsync(app);
        using var response = await client.SendAsync(request.ToMessage());
        var status = (int)response.StatusCode;
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(status < 500, $"HTTP {status} for {request}: {body}");
        if (status < 400)
            return true;
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"HTTP {status} for {request} is {response.Content.Headers.ContentType}: {body}");
        if (request.Method != "HEAD")
        {
            using var problem = JsonDocument.Parse(body);
            Assert.Equal(status, problem.RootElement.GetProperty("status").GetInt32());
        }
        Assert.True(before == await FingerprintAsync(app), $"HTTP {status} for {request} changed the database");
        return true;
    }

    /// <summary>Everything a request could write, in one comparable value.</summary>
    private static async Task<string> FingerprintAsync(CoreServerApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        // One round trip: the property makes two of these per generated request.
        return (await db.Database.SqlQueryRaw<string>("""
            SELECT CAST((SELECT count(*) FROM users) AS text) || '/' || CAST((SELECT coalesce(sum(current_snapshot_id), 0) FROM users) AS text)
                   || '/' || CAST((SELECT count(*) FROM daily_asset_snapshots) AS text)
                   || '/' || CAST((SELECT coalesce(sum(closing_amount), 0) FROM daily_asset_snapshots) AS text)
                   || '/' || CAST((SELECT count(*) FROM asset_changes) AS text)
                   || '/' || CAST((SELECT count(*) FROM batch_runs) AS text) || '/' || CAST((SELECT coalesce(sum(attempts), 0) FROM batch_runs) AS text)
                   || '/' || CAST((SELECT count(*) FROM asset_refresh_failures) AS text) AS "Value"
            """).ToListAsync()).Single();
    }
}
