using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
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
    };

    /// <summary>Endpoints whose success is not a 200.</summary>
    private static readonly Dictionary<string, int> Success = new() { ["POST /internal/batch/runs/{id}/cancel"] = 202 };

    /// <summary>The operating surface is not part of the API it describes.</summary>
    // The console is HTML for people (its one stream feeds its own pages), not part of the API.
    private static readonly string[] NotDescribed = ["/health/", "/metrics", "/openapi/", "/internal/console"];

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
            .SelectMany(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()!.HttpMethods
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
            Assert.True(ok.GetProperty("content").TryGetProperty("application/json", out _), $"{endpoint}: {success} is not JSON");
            var declared = responses.EnumerateObject().Where(r => r.Name != success).Select(r => int.Parse(r.Name)).Order();
            Assert.Equal(problems, declared);
            foreach (var status in problems)
            {
                Assert.True(responses.GetProperty(status.ToString()).GetProperty("content").TryGetProperty("application/problem+json", out _),
                    $"{endpoint}: {status} is not declared as a problem");
            }
        }
    }

    [Fact]
    public async Task The_OpenAPI_document_is_for_internal_callers_only()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database) { RemoteAddress = IPAddress.Parse("203.0.113.9") };
        var client = app.CreateClient();

        await (await client.GetAsync("/openapi/v1.json")).AssertProblemAsync(HttpStatusCode.Forbidden, "203.0.113.9");
    }

    [GeneratedRegex(@":[^}]+\}")]
    private static partial Regex RouteConstraint();
}
