using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.FileProviders;

namespace DontGoBack.CoreServer.AdminConsole;

/// <summary>
/// The operations console: Razor Pages under /internal/console (so behind the internal guard), its
/// stylesheet, script and chart library from wwwroot/console, and the Server-Sent Events of a run's progress.
/// </summary>
public static partial class ConsoleExtensions
{
    public static IHostApplicationBuilder AddAdminConsole(this IHostApplicationBuilder builder)
    {
        builder.Services.AddRazorPages(pages => pages.RootDirectory = "/AdminConsole/Pages");
        // SecurityHeaders sends X-Frame-Options: DENY (and frame-ancestors 'none') with every console response, not only with antiforgery's cookie.
        builder.Services.AddAntiforgery(antiforgery => antiforgery.SuppressXFrameOptionsHeader = true);
        builder.Services.AddScoped<ConsoleReader>();
        builder.Services.AddScoped<ClusterWorkReader>();
        builder.Services.AddSingleton<LiveProgress>();
        return builder;
    }

    /// <summary>
    /// The console's static files (after the internal guard, which lets them through for the sign-in page), and its
    /// own 404 page for what under it is not there (inside the guard and the security headers, before the API's problem).
    /// </summary>
    public static IApplicationBuilder UseAdminConsole(this WebApplication app)
    {
        app.UseWhen(http => ConsoleNotFound.IsShownFor(http.Request.Path), console => console.UseStatusCodePages(ConsoleNotFound.ShowAsync));
        var folder = Path.Combine(app.Environment.WebRootPath ?? Path.Combine(app.Environment.ContentRootPath, "wwwroot"), "console");
        if (Directory.Exists(folder))
            app.UseStaticFiles(new StaticFileOptions { RequestPath = ConsolePaths.Assets, FileProvider = new PhysicalFileProvider(folder) });
        return app;
    }

    public static WebApplication MapAdminConsole(this WebApplication app)
    {
        app.MapRazorPages();
        // An unknown run is the console's 404, as its page is, not an empty stream that looks like a run with nothing to say.
        app.MapGet(ConsolePaths.Root + "/runs/{id:long}/live", async Task<Results<ServerSentEventsResult<LiveReading>, NotFound>> (
                long id, int? after, LiveProgress live, CancellationToken cancellationToken) =>
            await live.ExistsAsync(id, cancellationToken)
                ? TypedResults.ServerSentEvents(live.FollowAsync(id, after, cancellationToken))
                : TypedResults.NotFound())
            // The console's own stream for its pages, not part of the API.
            .ExcludeFromDescription();
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("DontGoBack.CoreServer.AdminConsole");
            foreach (var address in addresses)
                LogConsoleAddress(logger, address.TrimEnd('/') + ConsolePaths.Root);
        });
        return app;
    }

    [LoggerMessage(LogLevel.Information, "Operations console: {Address}")]
    private static partial void LogConsoleAddress(ILogger logger, string address);
}
