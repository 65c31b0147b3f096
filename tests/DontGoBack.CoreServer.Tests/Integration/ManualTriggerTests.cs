using System.Net;
using System.Net.Http.Json;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

// Provider-neutral: the endpoint's guards and parsing do not touch the database dialect.
public sealed class ManualTriggerTests
{
    private const string Path = RefreshRuns.Path;

    [Fact]
    public async Task Without_a_day_the_run_is_for_today_in_the_batch_zone_not_in_utc()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        app.Time.Now = new DateTimeOffset(2025, 8, 9, 18, 30, 0, TimeSpan.Zero);
        var client = app.CreateClient();
        await app.AddUserAsync(AccountStatus.Active, (new DateOnly(2025, 8, 9), 10_000_000));

        var response = await client.PostAsync(Path, null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await response.Content.ReadFromJsonAsync<BatchResult>();
        Assert.Equal(new DateOnly(2025, 8, 10), result!.Day);
        Assert.Equal(1, result.Success);
    }

    [Fact]
    public async Task The_day_parameter_names_the_day_to_run()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        await app.AddUserAsync(AccountStatus.Active, (new DateOnly(2025, 8, 7), 10_000_000));

        var response = await app.CreateClient().PostAsync($"{Path}?day=2025-08-08", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new DateOnly(2025, 8, 8), (await response.Content.ReadFromJsonAsync<BatchResult>())!.Day);
    }

    [Fact]
    public async Task The_old_snapshotDay_parameter_is_a_400_naming_day_and_runs_nothing()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        await app.AddUserAsync(AccountStatus.Active, (new DateOnly(2025, 8, 7), 10_000_000));

        var response = await client.PostAsync($"{Path}?snapshotDay=2025-08-08", null);

        // The trigger answers when its run ends, so by this answer a run would have called the extension.
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "`day`");
        Assert.Contains("snapshotDay", problem.Detail);
        Assert.Equal(0, app.Extension.TotalCalls);
        using var runs = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync("/internal/batch/runs"));
        Assert.Equal(0, runs.RootElement.GetArrayLength());
        using var audit = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync("/internal/batch/audit"));
        var refused = Assert.Single(audit.RootElement.GetProperty("actions").EnumerateArray());
        Assert.Contains("snapshotDay", refused.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("2025-13-01")]
    [InlineData("10-08-2025")]
    [InlineData("yesterday")]
    public async Task Malformed_day_is_a_400_problem(string day)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);

        var response = await app.CreateClient().PostAsync($"{Path}?day={day}", null);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, day);
    }

    [Fact]
    public async Task Future_day_is_a_400_problem_and_runs_nothing()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        await app.AddUserAsync(AccountStatus.Active);

        var response = await client.PostAsync($"{Path}?day=2025-08-11", null);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "2025-08-11");
        Assert.Equal(0, app.Extension.TotalCalls);
    }

    [Fact]
    public async Task Address_outside_the_allowed_networks_is_a_403()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database) { RemoteAddress = IPAddress.Parse("203.0.113.7") };

        var response = await app.CreateClient().PostAsync($"{Path}?day=2025-08-10", null);

        await response.AssertProblemAsync(HttpStatusCode.Forbidden, "203.0.113.7");
    }

    [Fact]
    public async Task Configured_network_is_allowed()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["InternalAccess:AllowedNetworks:0"] = "10.20.0.0/16",
        }) { RemoteAddress = IPAddress.Parse("10.20.3.4") };

        var response = await app.CreateClient().PostAsync($"{Path}?day=2025-08-10", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-token")]
    public async Task Missing_or_wrong_admin_token_is_a_401(string? token)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["InternalAccess:AdminToken"] = "s3cret" });
        var client = app.CreateClient();
        if (token is not null)
            client.DefaultRequestHeaders.Add(InternalAccessMiddleware.AdminTokenHeader, token);

        var response = await client.PostAsync($"{Path}?day=2025-08-10", null);

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized, InternalAccessMiddleware.AdminTokenHeader);
    }

    [Fact]
    public async Task Right_admin_token_runs_the_day()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["InternalAccess:AdminToken"] = "s3cret" });
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Add(InternalAccessMiddleware.AdminTokenHeader, "s3cret");

        var response = await client.PostAsync($"{Path}?day=2025-08-10", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Same_day_already_running_is_a_409_and_the_first_run_still_finishes()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["Extension:AttemptTimeout"] = "00:00:10" });
        var client = app.CreateClient();
        var blocked = await app.AddUserAsync(AccountStatus.Active);
        app.Extension.Inject(Fault.Block, blocked);

        var first = client.PostAsync($"{Path}?day=2025-08-10", null);
        await app.Extension.BlockedCallArrived.WaitAsync(TimeSpan.FromSeconds(10));
        var second = await client.PostAsync($"{Path}?day=2025-08-10", null);
        // Another day is not blocked by the running one (its call for the same user waits for the release too).
        var otherDay = client.PostAsync($"{Path}?day=2025-08-09", null);
        app.Extension.ReleaseBlocked();

        await second.AssertProblemAsync(HttpStatusCode.Conflict, "2025-08-10");
        Assert.Equal(HttpStatusCode.OK, (await otherDay).StatusCode);
        var firstResult = await (await first).Content.ReadFromJsonAsync<BatchResult>();
        Assert.Equal(1, firstResult!.Success);
    }
}
