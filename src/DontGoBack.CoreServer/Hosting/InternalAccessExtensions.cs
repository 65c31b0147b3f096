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

    /// <summary>A route group under /internal that only allowed addresses (and the admin token, when set) may call.</summary>
    public static RouteGroupBuilder MapInternalGroup(this IEndpointRouteBuilder app, string prefix) =>
        app.MapGroup("/internal" + prefix).AddEndpointFilter<InternalAccessFilter>();
}
