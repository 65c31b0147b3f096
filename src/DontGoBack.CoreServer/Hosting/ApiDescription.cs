using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// The OpenAPI document of the HTTP API at /openapi/v1.json, with each endpoint's summary, rules,
/// answers and problems, filed by area (<see cref="Tags"/>); and its interactive reference for people
/// at /internal/api. Internal callers only, as it describes /internal too. The console's own
/// endpoints are left out: they feed its pages.
/// </summary>
public static class ApiDescription
{
    public const string DocumentPath = "/openapi/v1.json";

    /// <summary>Where the reference is read; under /internal, so the internal guard and its headers cover it.</summary>
    public const string ReferencePath = InternalAccessExtensions.PathPrefix + "/api";

    public const string Title = "DontGoBack Core API";

    /// <summary>The areas an operation is filed under, each a heading of the reference.</summary>
    public static class Tags
    {
        public const string Users = "Users";
        public const string Assets = "Assets";
        public const string BatchRuns = "Batch runs";
        public const string Operator = "Operator";
        public const string Health = "Health";
    }

    public static IHostApplicationBuilder AddApiDescription(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOpenApi(options => options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = Title;
            document.Info.Description = "The core server's HTTP API. Everything under /internal answers only to the server's own names, "
                + "allowed addresses and, when one is set, the admin token (the `X-Admin-Token` header, or the console's sign-in cookie); the public /api is rate-limited per address. "
                + "Every error is a problem (application/problem+json) whose `detail` says what was wrong.";
            return Task.CompletedTask;
        }).AddDocumentTransformer(DescribeServedByMiddlewareAsync).AddSchemaTransformer((schema, context, _) =>
        {
            // The schema generator knows no [AllowedValues]: a property limited to some values lists them.
            if (context.JsonPropertyInfo?.AttributeProvider?.GetCustomAttributes(typeof(AllowedValuesAttribute), inherit: false) is [AllowedValuesAttribute allowed, ..])
                schema.Enum = allowed.Values.Select(value => (JsonNode)JsonValue.Create(value?.ToString())!).ToList();
            // A job's own counters are written by a converter the generator cannot see through: a flat object of counts.
            if (context.JsonTypeInfo.Type == typeof(DontGoBack.Batch.Runs.BatchCounters))
            {
                schema.Type = JsonSchemaType.Object;
                schema.AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" };
                schema.Description = "The job's own counts by name, as the job declares them; a count of 0 is left out.";
            }
            return Task.CompletedTask;
        }));
        return builder;
    }

    /// <summary>
    /// Declares an answer of an endpoint that is served by middleware rather than a handler (see
    /// <see cref="DescribeServedByMiddlewareAsync"/>), where the handler's own Produces is not available.
    /// </summary>
    public static TBuilder Answers<TBuilder>(this TBuilder endpoint, int status, Type? body, string contentType, string description)
        where TBuilder : IEndpointConventionBuilder =>
        endpoint.WithMetadata(new ProducesResponseTypeMetadata(status, body ?? typeof(void), [contentType]) { Description = description });

    /// <summary>
    /// The health checks and the Prometheus scrape are served by middleware, which the API explorer does
    /// not see; they are described here from what they were mapped with (tags, summary, description,
    /// answers), as the GET that probes and scrapers send (they answer any method).
    /// </summary>
    private static async Task DescribeServedByMiddlewareAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        var endpoints = context.ApplicationServices.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<MethodInfo>() is null && e.Metadata.GetMetadata<IEndpointSummaryMetadata>() is not null
                        && e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true });
        foreach (var endpoint in endpoints)
        {
            var operation = new OpenApiOperation
            {
                Summary = endpoint.Metadata.GetMetadata<IEndpointSummaryMetadata>()!.Summary,
                Description = endpoint.Metadata.GetMetadata<IEndpointDescriptionMetadata>()?.Description,
                Tags = new HashSet<OpenApiTagReference>(),
                Responses = new OpenApiResponses(),
            };
            foreach (var tag in endpoint.Metadata.GetOrderedMetadata<ITagsMetadata>().SelectMany(t => t.Tags))
            {
                document.Tags ??= new HashSet<OpenApiTag>();
                if (!document.Tags.Any(t => t.Name == tag))
                    document.Tags.Add(new OpenApiTag { Name = tag });
                operation.Tags.Add(new OpenApiTagReference(tag, document));
            }
            foreach (var answer in endpoint.Metadata.GetOrderedMetadata<IProducesResponseTypeMetadata>())
            {
                var response = new OpenApiResponse
                {
                    Description = answer.Description ?? ReasonPhrases.GetReasonPhrase(answer.StatusCode),
                    Content = new Dictionary<string, OpenApiMediaType>(),
                };
                foreach (var contentType in answer.ContentTypes)
                {
                    response.Content[contentType] = new OpenApiMediaType
                    {
                        Schema = answer.Type is null || answer.Type == typeof(void) ? null : await SchemaAsync(document, context, answer.Type, cancellationToken),
                    };
                }
                operation.Responses[answer.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)] = response;
            }
            document.Paths ??= new OpenApiPaths();
            document.Paths["/" + endpoint.RoutePattern.RawText!.TrimStart('/')] = new OpenApiPathItem
            {
                Operations = new Dictionary<HttpMethod, OpenApiOperation> { [HttpMethod.Get] = operation },
            };
        }
    }

    /// <summary>A reference to the type's schema among the document's components, added there once, as the explorer's operations have theirs.</summary>
    private static async Task<IOpenApiSchema> SchemaAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, Type type, CancellationToken cancellationToken)
    {
        // A plain value (the scrape's text) is said in place.
        if (type.IsPrimitive || type == typeof(string))
            return await context.GetOrCreateSchemaAsync(type, null, cancellationToken);
        var id = type.Name;
        if (document.Components?.Schemas?.ContainsKey(id) != true)
            document.AddComponent(id, await context.GetOrCreateSchemaAsync(type, null, cancellationToken));
        return new OpenApiSchemaReference(id, document);
    }

    public static IEndpointRouteBuilder MapApiDescription(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi().RequireInternalAccess();
        // Everything the page needs comes from this server: its script is embedded in the package,
        // and nothing reaches out (no web fonts, no telemetry), as the operators' browsers may have no internet.
        app.MapScalarApiReference(ReferencePath, options => options
            .WithTitle(Title)
            // A fresh nonce per response for the page's inline start-up script, which SecurityHeaders allows by it alone.
            .WithNonce()
            .WithOpenApiRoutePattern(DocumentPath.Replace("v1", "{documentName}", StringComparison.Ordinal))
            .DisableDefaultFonts()
            .DisableTelemetry()
            .DisableAgent()
            .DisableMcp()
            // Its toolbar only links to the vendor's site.
            .HideDeveloperTools());
        return app;
    }
}
