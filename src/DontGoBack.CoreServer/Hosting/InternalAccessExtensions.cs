namespace DontGoBack.CoreServer.Hosting;

public static class InternalAccessExtensions
{
    public static IHostApplicationBuilder AddInternalAccess(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<InternalAccessOptions>()
            .BindConfiguration(InternalAccessOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        return builder;
    }

    public const string PathPrefix = "/internal";

    /// <summary>Only allowed addresses (and the admin token, when set) get past this to anything under /internal.</summary>
    public static IApplicationBuilder UseInternalAccess(this IApplicationBuilder app) =>
        app.UseWhen(http => http.Request.Path.StartsWithSegments(PathPrefix),
            internalOnly => internalOnly.UseMiddleware<InternalAccessMiddleware>());

    /// <summary>A route group under /internal, which <see cref="UseInternalAccess"/> guards.</summary>
    public static RouteGroupBuilder MapInternalGroup(this IEndpointRouteBuilder app, string prefix) => app.MapGroup(PathPrefix + prefix);
}
