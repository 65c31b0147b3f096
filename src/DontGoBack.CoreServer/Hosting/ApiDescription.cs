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
        }));
        return builder;
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
