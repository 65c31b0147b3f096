using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// One headless Chromium shared by the console's browser tests (starting it costs about a second;
/// each test gets its own context, so cookies never leak between tests). Playwright cannot download
/// browsers here: it drives Debian's chromium, which scripts/test.sh installs when missing.
/// </summary>
public sealed class ConsoleBrowser : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Where screenshots of the pages go: test artefacts beside the test binaries, never committed.</summary>
    public static string ScreenshotFolder { get; } = Path.Combine(AppContext.BaseDirectory, "console-screenshots");

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException($"{ChromiumPath} is missing; scripts/test.sh installs it (apt-get install chromium).");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // The tests run as root in CI, where Chromium's sandbox cannot start.
            Args = ["--no-sandbox"],
        });
        Directory.CreateDirectory(ScreenshotFolder);
    }

    /// <summary>A fresh browser context (its own cookies) on the server at <paramref name="baseUrl"/>.</summary>
    public async Task<IPage> OpenAsync(Uri baseUrl)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseUrl.ToString(), ViewportSize = new ViewportSize { Width = 1360, Height = 900 },
        });
        // Waits on the DOM give up well before a test would hang.
        context.SetDefaultTimeout(45_000);
        return await context.NewPageAsync();
    }

    public static Task ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, name + ".png"), FullPage = true });

    /// <summary>
    /// The characters of <paramref name="text"/> beyond ASCII that the browser draws as the missing-glyph
    /// box (no installed font has them) or not at all. Each is drawn on a canvas in the element's own font
    /// and compared, pixel for pixel, with an unassigned code point; two unassigned ones must draw alike,
    /// or the comparison proves nothing.
    /// </summary>
    public static Task<string[]> MissingGlyphsAsync(ILocator text) => text.EvaluateAsync<string[]>("""
        element => {
            const style = getComputedStyle(element);
            const font = `${style.fontStyle} ${style.fontWeight} 32px ${style.fontFamily}`;
            const draw = character => {
                const context = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
                context.canvas.width = context.canvas.height = 48;
                context.font = font;
                context.textBaseline = 'top';
                context.fillText(character, 4, 4);
                return context.getImageData(0, 0, 48, 48).data.join();
            };
            const box = draw('\u{10FFFD}');
            if (draw('\u{10FFFC}') !== box)
                throw new Error(`two unassigned code points draw differently in ${font}: no missing-glyph box to compare with`);
            const blank = draw(' ');
            return [...element.textContent].filter(c => c.codePointAt(0) > 0x7f).filter(c => [box, blank].includes(draw(c)));
        }
        """);

    public async Task DisposeAsync()
    {
        if (Browser is not null)
            await Browser.DisposeAsync();
        _playwright?.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ConsoleBrowserCollection : ICollectionFixture<ConsoleBrowser>
{
    public const string Name = "Console browser";
}

public static class KestrelServers
{
    /// <summary>Starts the app on a real Kestrel port on loopback (a browser cannot reach the in-memory TestServer) and answers its address.</summary>
    public static Uri StartOnKestrel(this CoreServerApp app)
    {
        app.UseKestrel(options => options.Listen(System.Net.IPAddress.Loopback, 0));
        app.StartServer();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address.TrimEnd('/') + "/");
    }
}
