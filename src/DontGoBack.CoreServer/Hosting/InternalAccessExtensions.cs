namespace DontGoBack.CoreServer.Hosting;

public static class InternalAccessExtensions
{
    public static IHostApplicationBuilder AddInternalAccess(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<InternalAccessOptions>()
            .BindConfiguration(InternalAccessOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<FailedAuthenticationOptions>()
            .BindConfiguration(FailedAuthenticationOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<FailedAuthenticationThrottle>();
        builder.Services.AddScoped<AdminSession>();
        builder.Services.AddHostedService<ConsoleSessionSweep>();
        return builder;
    }

    public const string PathPrefix = "/internal";

    /// <summary>
    /// Anything under /internal, or marked <see cref="RequireInternalAccess"/>: every answer carries
    /// the <see cref="SecurityHeaders"/>, a browser's state-changing request from another origin is
    /// refused (<see cref="CrossOriginGuard"/>), and only allowed addresses (and the admin token, when
    /// set) get past <see cref="InternalAccessMiddleware"/>.
    /// </summary>
    public static IApplicationBuilder UseInternalAccess(this IApplicationBuilder app) =>
        app.UseWhen(http => http.Request.Path.StartsWithSegments(PathPrefix) || http.GetEndpoint()?.Metadata.GetMetadata<InternalOnly>() is not null,
            internalOnly => internalOnly
                .Use(SecurityHeaders.AddAsync)
                .UseMiddleware<CrossOriginGuard>()
                .UseMiddleware<InternalAccessMiddleware>());

    /// <summary>A route group under /internal, which <see cref="UseInternalAccess"/> guards.</summary>
    public static RouteGroupBuilder MapInternalGroup(this IEndpointRouteBuilder app, string prefix) =>
        app.MapGroup(PathPrefix + prefix).ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden);

    /// <summary>Guards an endpoint outside /internal as if it were inside (the metrics scrape, the API description).</summary>
    public static TBuilder RequireInternalAccess<TBuilder>(this TBuilder endpoint) where TBuilder : IEndpointConventionBuilder =>
        endpoint.WithMetadata(new InternalOnly());

    private sealed class InternalOnly;
}
