using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed partial class ApiDescriptionTests
{
    /// <summary>The problems each endpoint answers: its own, plus the internal guard's (401, 403) or the public rate limit's (429).</summary>
    private static readonly Dictionary<string, int[]> Problems = new()
    {
        ["POST /internal/batch/{job}/runs"] = [400, 401, 403, 404, 409, 503],
        ["POST /internal/users/{userId}/activity"] = [400, 401, 403, 404],
        ["GET /internal/batch/runs"] = [400, 401, 403],
        ["GET /internal/batch/runs/{id}"] = [400, 401, 403, 404],
        ["POST /internal/users/{userId}/asset-adjustments"] = [400, 401, 403, 404, 409, 415, 422],
        ["GET /api/users/{userId}/asset-series"] = [400, 404, 429],
        ["POST /internal/batch/runs/{id}/cancel"] = [400, 401, 403, 404, 409],
        ["POST /internal/batch/{job}/schedule/pause"] = [400, 401, 403, 404, 409],
        ["POST /internal/batch/{job}/schedule/resume"] = [400, 401, 403, 404, 409],
        ["GET /internal/batch/schedules"] = [401, 403],
        ["GET /internal/batch/audit"] = [400, 401, 403],
        // The probes need no credentials; the scrape is internal.
        ["GET /health/live"] = [],
        ["GET /health/ready"] = [],
        ["GET /metrics"] = [401, 403],
    };

    /// <summary>Endpoints whose success is not a 200.</summary>
    private static readonly Dictionary<string, int> Success = new() { ["POST /internal/batch/runs/{id}/cancel"] = 202 };

    /// <summary>Endpoints whose success is not JSON.</summary>
    private static readonly Dictionary<string, string> SuccessType = new() { ["GET /metrics"] = "text/plain" };

    /// <summary>Answers that are neither the success nor a problem: an Unhealthy report is the same JSON with a 503.</summary>
    private static readonly Dictionary<string, int[]> OtherAnswers = new() { ["GET /health/ready"] = [503] };

    /// <summary>The document itself, and what is for people rather than programs.</summary>
    // The console is HTML for people (its one stream feeds its own pages), not part of the API.
    // The reference at /internal/api is the document drawn for people.
    private static readonly string[] NotDescribed = ["/openapi/", "/internal/console", "/internal/api"];

    [Fact]
    public async Task The_OpenAPI_document_lists_every_endpoint_with_its_answer_and_problems()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();

        var response = await client.GetAsync("/openapi/v1.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var paths = document.RootElement.GetProperty("paths");
        var mapped = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => !NotDescribed.Any(prefix => ("/" + e.RoutePattern.RawText!.TrimStart('/')).StartsWith(prefix, StringComparison.Ordinal)))
            // The health checks and the scrape answer any method; they are described as the GET that probes and scrapers send.
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(method => $"{method} {RouteConstraint().Replace("/" + e.RoutePattern.RawText!.TrimStart('/'), "}")}"))
            .ToList();
        // Every endpoint mapped is one this test knows, so a new one cannot go undescribed unnoticed.
        Assert.Equal(Problems.Keys.Order(), mapped.Order());
        foreach (var (endpoint, problems) in Problems)
        {
            var (method, path) = (endpoint.Split(' ')[0].ToLowerInvariant(), endpoint.Split(' ')[1]);
            var responses = paths.GetProperty(path).GetProperty(method).GetProperty("responses");
            var success = Success.GetValueOrDefault(endpoint, 200).ToString();
            Assert.True(responses.TryGetProperty(success, out var ok), $"{endpoint} declares no {success}");
            var successType = SuccessType.GetValueOrDefault(endpoint, "application/json");
            Assert.True(ok.GetProperty("content").TryGetProperty(successType, out _), $"{endpoint}: {success} is not {successType}");
            var others = OtherAnswers.GetValueOrDefault(endpoint, []);
            foreach (var status in others)
            {
                Assert.True(responses.TryGetProperty(status.ToString(), out var other) && other.GetProperty("content").TryGetProperty("application/json", out _),
                    $"{endpoint} declares no JSON {status}");
            }
            var declared = responses.EnumerateObject().Where(r => r.Name != success).Select(r => int.Parse(r.Name)).Except(others).Order();
            Assert.Equal(problems, declared);
            foreach (var status in problems)
            {
                Assert.True(responses.GetProperty(status.ToString()).GetProperty("content").TryGetProperty("application/problem+json", out _),
                    $"{endpoint}: {status} is not declared as a problem");
            }
        }
    }

    /// <summary>The areas an operation is filed under; each is a heading of the reference at /internal/api.</summary>
    private static readonly string[] Areas = ["Users", "Assets", "Batch runs", "Operator", "Health"];

    [Fact]
    public async Task Every_operation_is_described_for_people_under_one_area_and_the_console_is_left_out()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();

        using var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));

        var paths = document.RootElement.GetProperty("paths").EnumerateObject().ToList();
        Assert.DoesNotContain(paths, path => path.Name.StartsWith("/internal/console", StringComparison.Ordinal));
        var operations = paths.SelectMany(path => path.Value.EnumerateObject().Select(operation => (Name: $"{operation.Name.ToUpperInvariant()} {path.Name}", operation.Value))).ToList();
        Assert.Equal(Problems.Count, operations.Count);
        foreach (var (name, operation) in operations)
        {
            Assert.True(operation.TryGetProperty("summary", out var summary) && summary.GetString()!.Length > 10, $"{name} has no summary");
            Assert.True(operation.TryGetProperty("description", out var description) && description.GetString()!.Length > summary.GetString()!.Length,
                $"{name} has no description longer than its summary");
            var tags = operation.TryGetProperty("tags", out var given) ? given.EnumerateArray().Select(t => t.GetString()).ToList() : [];
            Assert.True(tags.Count == 1 && Areas.Contains(tags[0]), $"{name} is filed under [{string.Join(", ", tags)}], not one of {string.Join(", ", Areas)}");
        }
    }

    [Fact]
    public async Task The_health_endpoints_are_described_with_the_shape_of_the_report_they_answer()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();

        using var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));
        using var report = JsonDocument.Parse(await client.GetStringAsync("/health/ready"));

        var root = document.RootElement;
        JsonElement Resolve(JsonElement schema) => schema.TryGetProperty("$ref", out var reference)
            ? root.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1])
            : schema;
        foreach (var (path, statuses) in new[] { ("/health/live", new[] { "200" }), ("/health/ready", ["200", "503"]) })
        {
            var operation = root.GetProperty("paths").GetProperty(path).GetProperty("get");
            Assert.Equal(["Health"], operation.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
            foreach (var status in statuses)
            {
                var body = Resolve(operation.GetProperty("responses").GetProperty(status).GetProperty("content").GetProperty("application/json").GetProperty("schema"));
                var properties = body.GetProperty("properties");
                // Every field the server answers is in the document, down to each check's.
                Assert.All(report.RootElement.EnumerateObject(), field => Assert.True(properties.TryGetProperty(field.Name, out _), $"{path} {status}: no {field.Name}"));
                Assert.Equal(["Degraded", "Healthy", "Unhealthy"], properties.GetProperty("status").GetProperty("enum").EnumerateArray().Select(v => v.GetString()).Order());
                var check = Resolve(properties.GetProperty("checks").GetProperty("additionalProperties")).GetProperty("properties");
                Assert.All(report.RootElement.GetProperty("checks").EnumerateObject().SelectMany(c => c.Value.EnumerateObject()),
                    field => Assert.True(check.TryGetProperty(field.Name, out _), $"{path} {status}: a check has no {field.Name}"));
            }
        }
        Assert.Contains("check", root.GetProperty("paths").GetProperty("/health/ready").GetProperty("get").GetProperty("description").GetString());
        Assert.True(root.GetProperty("paths").GetProperty("/metrics").GetProperty("get").GetProperty("responses").GetProperty("200")
            .GetProperty("content").TryGetProperty("text/plain", out _));
    }

    [Fact]
    public async Task The_OpenAPI_document_is_for_internal_callers_only()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database) { RemoteAddress = IPAddress.Parse("203.0.113.9") };
        var client = app.CreateClient();

        await (await client.GetAsync("/openapi/v1.json")).AssertProblemAsync(HttpStatusCode.Forbidden, "203.0.113.9");
        // The reference and its script too: they are under /internal.
        await (await client.GetAsync("/internal/api")).AssertProblemAsync(HttpStatusCode.Forbidden, "203.0.113.9");
        await (await client.GetAsync("/internal/api/scalar.js")).AssertProblemAsync(HttpStatusCode.Forbidden, "203.0.113.9");
    }

    [GeneratedRegex(@":[^}]+\}")]
    private static partial Regex RouteConstraint();
}
