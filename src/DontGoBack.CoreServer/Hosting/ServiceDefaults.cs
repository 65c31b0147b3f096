using DontGoBack.CoreServer.Cli;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// What every host of this service needs, whatever it runs: logging, the clock, the HTTP surface's defaults
/// (problems, strict JSON, trusted proxies, the public rate limit), the internal guard's settings, telemetry
/// (servers only), health checks and the API description; and, once built, their endpoints.
/// </summary>
public static class ServiceDefaults
{
    /// <param name="request">What the command line asked for: a command logs to standard error and exports no telemetry.</param>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder, CommandLineRequest request)
    {
        builder.AddCoreLogging(request.IsCommand);
        builder.Services.TryAddSingleton(LoadTestClock.From(builder.Configuration));
        builder.AddHttpSurface();
        builder.AddInternalAccess();
        // Commands export no telemetry, and a meter listener nobody reads would still make every
        // extension call and query record its metrics (several per call, in per-user mode).
        if (!request.IsCommand)
            builder.AddTelemetry();
        builder.AddHealth();
        builder.AddApiDescription();
        // No generic HTTP client resilience here: the two clients (extension, auth) each carry a leaner
        // pipeline than the standard one on purpose (InterServerExtensions), and there is no third.
        return builder;
    }

    /// <summary>The metrics scrape (where telemetry was added), the health probes and the API description with its reference.</summary>
    public static IEndpointRouteBuilder MapDefaultEndpoints(this IEndpointRouteBuilder app)
    {
        if (app.ServiceProvider.GetRequiredService<IServiceProviderIsService>().IsService(typeof(MeterProvider)))
            app.MapTelemetry();
        app.MapHealth();
        app.MapApiDescription();
        return app;
    }
}
