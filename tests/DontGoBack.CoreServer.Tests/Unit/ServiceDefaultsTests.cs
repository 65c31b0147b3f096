using DontGoBack.CoreServer.Cli;
using DontGoBack.CoreServer.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace DontGoBack.CoreServer.Tests.Unit;

/// <summary>What every host of the service gets from the defaults alone, before any domain adds its own.</summary>
public sealed class ServiceDefaultsTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_defaults_map_health_and_the_API_description_and_metrics_only_for_a_server(bool command)
    {
        var builder = WebApplication.CreateBuilder();
        builder.AddServiceDefaults(command ? CommandLineRequest.Command(["runs"]) : CommandLineRequest.Server);
        await using var app = builder.Build();

        app.MapDefaultEndpoints();

        var routes = ((IEndpointRouteBuilder)app).DataSources.SelectMany(source => source.Endpoints).OfType<RouteEndpoint>()
            .Select(endpoint => "/" + endpoint.RoutePattern.RawText!.TrimStart('/')).ToList();
        Assert.Contains(HealthEndpoints.LivePath, routes);
        Assert.Contains(HealthEndpoints.ReadyPath, routes);
        Assert.Contains(routes, route => route.StartsWith("/openapi/", StringComparison.Ordinal));
        // A command exports no telemetry, so it has no scrape to map.
        Assert.Equal(!command, routes.Contains(Telemetry.MetricsPath));
    }
}
