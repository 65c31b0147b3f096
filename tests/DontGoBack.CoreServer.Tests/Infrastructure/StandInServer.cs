using DontGoBack.MarketSimulation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>The stand-in extension and auth server on a free loopback port, as a real HTTP server.</summary>
public sealed class StandInServer : IAsyncDisposable
{
    public const string ClientSecret = "local-core-secret";
    private readonly WebApplication _app;

    private StandInServer(WebApplication app) => _app = app;

    public string Url => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    public SimulatorCallCounter Calls => _app.Services.GetRequiredService<SimulatorCallCounter>();

    public static async Task<StandInServer> StartAsync(IDictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration["Simulator:Salt"] = FakeExtensionServer.Salt;
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            builder.Configuration[key] = value;
        builder.Logging.ClearProviders();
        builder.AddExtensionSimulator();
        var app = builder.Build();
        app.MapExtensionSimulator();
        await app.StartAsync();
        return new StandInServer(app);
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
