namespace DontGoBack.CoreServer.Hosting;

public static class InternalAccessExtensions
{
    public static IHostApplicationBuilder AddInternalAccess(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<InternalAccessOptions>()
            .BindConfiguration(InternalAccessOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<AdminSession>();
        return builder;
    }

    public const string PathPrefix = "/internal";

    /// <summary>Only allowed addresses (and the admin token, when set) get past this to anything under /internal, or marked <see cref="RequireInternalAccess"/>.</summary>
    public static IApplicationBuilder UseInternalAccess(this IApplicationBuilder app) =>
        app.UseWhen(http => http.Request.Path.StartsWithSegments(PathPrefix) || http.GetEndpoint()?.Metadata.GetMetadata<InternalOnly>() is not null,
            internalOnly => internalOnly.UseMiddleware<InternalAccessMiddleware>());

    /// <summary>A route group under /internal, which <see cref="UseInternalAccess"/> guards.</summary>
    public static RouteGroupBuilder MapInternalGroup(this IEndpointRouteBuilder app, string prefix) =>
        app.MapGroup(PathPrefix + prefix).ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden);

    /// <summary>Guards an endpoint outside /internal as if it were inside (the metrics scrape, the API description).</summary>
    public static TBuilder RequireInternalAccess<TBuilder>(this TBuilder endpoint) where TBuilder : IEndpointConventionBuilder =>
        endpoint.WithMetadata(new InternalOnly());

    private sealed class InternalOnly;
}
