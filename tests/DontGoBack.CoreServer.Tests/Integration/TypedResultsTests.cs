using DontGoBack.Batch.Storage;
using System.Reflection;
using System.Text.Json;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The domain's endpoints and the engine's state what they answer in their handlers' return types (typed Results),
/// so the contract cannot drift from the code; only what is answered before the handler runs is declared by hand.
/// </summary>
public sealed class TypedResultsTests
{
    /// <summary>
    /// Answered before the handler: a request the framework cannot bind (400), the internal guard (401, 403),
    /// a body that is not JSON (415), the public rate limit (429).
    /// </summary>
    private static readonly int[] AnsweredBeforeTheHandler = [400, 401, 403, 415, 429];

    /// <summary>
    /// The series is written as bytes so its strong ETag is the hash of exactly what is sent; its 200's body
    /// type is therefore declared by hand.
    /// </summary>
    private static readonly Dictionary<string, int[]> AlsoByHand = new() { ["GET /api/users/{userId}/asset-series"] = [200] };

    /// <param name="handlers">The namespace the handlers are declared in: the domain's, or the engine's (runs, trigger, operator actions).</param>
    /// <param name="count">How many endpoints that is, so an endpoint mapped some other way is not silently left out.</param>
    [Theory]
    [InlineData("DontGoBack.CoreServer.Domain", 3)]
    [InlineData("DontGoBack.Batch", 8)]
    public async Task Endpoints_declare_their_answers_through_their_return_types(string handlers, int count)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var endpoints = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<MethodInfo>()?.DeclaringType?.Namespace?.StartsWith(handlers, StringComparison.Ordinal) == true)
            .ToList();
        Assert.Equal(count, endpoints.Count);

        foreach (var endpoint in endpoints)
        {
            var name = $"{endpoint.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods[0]} /{endpoint.RoutePattern.RawText!.TrimStart('/').Replace(":long", "", StringComparison.Ordinal)}";
            var handler = endpoint.Metadata.GetMetadata<MethodInfo>()!;
            var returned = handler.ReturnType.IsGenericType && handler.ReturnType.GetGenericTypeDefinition() == typeof(Task<>)
                ? handler.ReturnType.GetGenericArguments()[0]
                : handler.ReturnType;
            // A typed Results<…>, or one typed result (Ok<T>) when that is the only answer: either states itself.
            Assert.True(typeof(INestedHttpResult).IsAssignableFrom(returned) || typeof(IEndpointMetadataProvider).IsAssignableFrom(returned),
                $"{name} returns {returned.Name}, not a typed Results<…>");

            var byType = StatusesStatedBy(returned, handler);
            Assert.NotEmpty(byType);
            var declared = endpoint.Metadata.GetOrderedMetadata<IProducesResponseTypeMetadata>().Select(m => m.StatusCode).Distinct();
            var byHand = declared.Except(byType).Order().ToList();
            var allowed = AnsweredBeforeTheHandler.Concat(AlsoByHand.GetValueOrDefault(name, [])).ToList();
            Assert.True(byHand.All(allowed.Contains), $"{name} declares {string.Join(", ", byHand.Except(allowed))} by hand although its handler answers it");
        }
    }

    /// <summary>
    /// Each of these operations' answers as the document described them when the handlers returned IResult and declared
    /// them by hand: status, its one content type and its schema. ApiDescriptionTests pins the statuses; this pins the bodies too.
    /// </summary>
    private static readonly Dictionary<string, Dictionary<string, string>> DocumentedAnswers = new()
    {
        ["post /internal/users/{userId}/asset-adjustments"] = new()
        {
            ["200"] = "application/json AdjustmentResult", ["400"] = Problem, ["401"] = Problem, ["403"] = Problem,
            ["404"] = Problem, ["409"] = Problem, ["415"] = Problem, ["422"] = Problem,
        },
        ["get /api/users/{userId}/asset-series"] = new()
        {
            ["200"] = "application/json AssetSeriesResponse", ["400"] = Problem, ["404"] = Problem, ["429"] = Problem,
        },
        ["post /internal/users/{userId}/activity"] = new()
        {
            ["200"] = "application/json ActivityResponse", ["400"] = Problem, ["401"] = Problem, ["403"] = Problem, ["404"] = Problem,
        },
        ["get /internal/batch/runs"] = new() { ["200"] = "application/json RunView[]", ["400"] = Problem, ["401"] = Problem, ["403"] = Problem },
        ["get /internal/batch/runs/{id}"] = new()
        {
            ["200"] = "application/json RunDetail", ["400"] = Problem, ["401"] = Problem, ["403"] = Problem, ["404"] = Problem,
        },
        ["post /internal/batch/{job}/runs"] = new()
        {
            ["200"] = "application/json BatchResult", ["400"] = Problem, ["401"] = Problem, ["403"] = Problem, ["404"] = Problem,
            ["409"] = Problem, ["503"] = Problem,
        },
        ["post /internal/batch/runs/{id}/cancel"] = new()
        {
            ["202"] = "application/json ActionView", ["400"] = Problem, ["401"] = Problem, ["403"] = Problem, ["404"] = Problem, ["409"] = Problem,
        },
        ["post /internal/batch/{job}/schedule/pause"] = new()
        {
            ["200"] = "application/json ActionView", ["400"] = Problem, ["401"] = Problem, ["403"] = Problem, ["404"] = Problem, ["409"] = Problem,
        },
        ["post /internal/batch/{job}/schedule/resume"] = new()
        {
            ["200"] = "application/json ActionView", ["400"] = Problem, ["401"] = Problem, ["403"] = Problem, ["404"] = Problem, ["409"] = Problem,
        },
        ["get /internal/batch/schedules"] = new() { ["200"] = "application/json ScheduleView[]", ["401"] = Problem, ["403"] = Problem },
        ["get /internal/batch/audit"] = new() { ["200"] = "application/json AuditPage", ["400"] = Problem, ["401"] = Problem, ["403"] = Problem },
    };

    private const string Problem = "application/problem+json ProblemDetails";

    [Fact]
    public async Task The_domain_and_engine_operations_are_documented_with_the_same_answers_and_bodies()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        using var document = JsonDocument.Parse(await app.CreateClient().GetStringAsync("/openapi/v1.json"));

        foreach (var (operation, answers) in DocumentedAnswers)
        {
            var (method, path) = (operation.Split(' ')[0], operation.Split(' ')[1]);
            var documented = document.RootElement.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("responses")
                .EnumerateObject().ToDictionary(r => r.Name, r => string.Join(" | ", r.Value.GetProperty("content").EnumerateObject()
                    .Select(c => $"{c.Name} {SchemaName(c.Value.GetProperty("schema"))}")));
            Assert.True(answers.OrderBy(a => a.Key).SequenceEqual(documented.OrderBy(d => d.Key)),
                $"{operation} is documented as {string.Join("; ", documented.OrderBy(d => d.Key).Select(d => $"{d.Key} {d.Value}"))}");
        }
    }

    /// <summary>A schema's name as the document refers to it; a list is its items' name with [].</summary>
    private static string SchemaName(JsonElement schema) =>
        schema.TryGetProperty("$ref", out var reference)
            ? reference.GetString()!.Split('/')[^1]
            : $"{SchemaName(schema.GetProperty("items"))}[]";

    /// <summary>What the return type's own metadata says, exactly as the framework asks it when the endpoint is built.</summary>
    private static HashSet<int> StatusesStatedBy(Type returned, MethodInfo handler)
    {
        var builder = new RouteEndpointBuilder(null, RoutePatternFactory.Parse("/"), 0);
        var populate = returned.GetMethod(nameof(IEndpointMetadataProvider.PopulateMetadata), BindingFlags.Public | BindingFlags.Static)
            ?? returned.GetInterfaceMap(typeof(IEndpointMetadataProvider)).TargetMethods.Single();
        populate.Invoke(null, [handler, builder]);
        return builder.Metadata.OfType<IProducesResponseTypeMetadata>().Select(m => m.StatusCode).ToHashSet();
    }
}
