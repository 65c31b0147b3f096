using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// A page of another origin on the same host (127.0.0.1, another port): the same site as the core
/// server, so it is what a hostile page on a neighbouring service would be. Serves one HTML page at /.
/// </summary>
public sealed class OtherOriginPage : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtherOriginPage(WebApplication app) => _app = app;

    public Uri Url => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/");

    public static async Task<OtherOriginPage> StartAsync(string html)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/", () => Results.Content(html, "text/html; charset=utf-8"));
        await app.StartAsync();
        return new OtherOriginPage(app);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
