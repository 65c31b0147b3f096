namespace DontGoBack.CoreServer.Hosting;

/// <summary>The OpenAPI document of the HTTP API at /openapi/v1.json, with each endpoint's answers and problems; internal callers only, as it describes /internal too.</summary>
public static class ApiDescription
{
    public const string DocumentPath = "/openapi/v1.json";

    public static IHostApplicationBuilder AddApiDescription(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOpenApi();
        return builder;
    }

    public static IEndpointRouteBuilder MapApiDescription(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi().RequireInternalAccess();
        return app;
    }
}
