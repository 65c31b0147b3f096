using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.Playwright;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>The API reference at /internal/api in a real browser: it renders from this server alone, under the internal guard's headers.</summary>
[Collection(ConsoleBrowserCollection.Name)]
public sealed class ApiReferenceTests(ConsoleBrowser browser)
{
    [Fact]
    public async Task The_reference_renders_the_described_operations_from_this_server_alone_without_errors()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var server = app.StartOnKestrel();
        var page = await browser.OpenAsync(server);
        // A script the policy blocks, or one that throws, shows here; so does a request the browser could not make.
        var errors = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") errors.Add(message.Text); };
        page.PageError += (_, error) => errors.Add(error);
        var elsewhere = new List<string>();
        page.Request += (_, request) =>
        {
            if (!request.Url.StartsWith(server.ToString(), StringComparison.Ordinal) && !request.Url.StartsWith("data:", StringComparison.Ordinal))
                elsewhere.Add(request.Url);
        };

        var response = await page.GotoAsync("internal/api");

        Assert.Equal(200, response!.Status);
        // The guard's policy still forbids framing the page.
        Assert.Contains("frame-ancestors 'none'", (await response.AllHeadersAsync())["content-security-policy"], StringComparison.Ordinal);
        // Summaries come from the document, so seeing them proves the page read it and drew it.
        await page.GetByText("Read a user's asset graph").First.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible });
        await page.GetByText("Batch runs").First.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible });
        Assert.Equal("DontGoBack Core API", await page.TitleAsync());
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        await ConsoleBrowser.ScreenshotAsync(page, "api-reference");
        Assert.Empty(errors);
        Assert.Empty(elsewhere);
    }
}
