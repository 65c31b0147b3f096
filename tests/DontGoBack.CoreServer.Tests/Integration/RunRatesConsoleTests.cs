using System.Text.Json;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>The run page's attempts, throughput and latest attempt in a real browser: a pass that found all done is no throughput.</summary>
[Collection(ConsoleBrowserCollection.Name)]
public sealed class RunRatesConsoleTests(ConsoleBrowser browser)
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Batch:ProgressInterval"] = "00:00:00.150",
        ["AssetRefresh:MaxConcurrency"] = "1",
        ["AssetRefresh:WriteChunkSize"] = "1",
        ["AssetRefresh:MaxWriteDelay"] = "00:00:00.020",
        // A held call waits for the test, not for a timeout that would count its user as failed.
        ["Extension:AttemptTimeout"] = "00:05:00",
        ["Extension:UserDeadline"] = "00:10:00",
    };

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_day_run_twice_shows_its_second_attempt_as_nothing_to_do_and_draws_no_rate_for_it(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings());
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server };
        await app.AddActiveUsersAsync(6, Day.AddDays(-1), 1_000_000);
        app.Time.StartTicking();
        var first = await client.RunDayAsync(Day);
        var second = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.Completed, 6, 0, 6), (second.Status, first.Success, second.Success, second.Skipped));

        var page = await browser.OpenAsync(server);
        await page.GotoAsync($"internal/console/runs/{second.RunId}");
        var attempts = page.Locator("section:has(h2:text-is('Attempts')) tbody tr");
        Assert.Equal("completed", (await attempts.Nth(0).Locator("td").Nth(1).TextContentAsync())?.Trim());
        Assert.Equal("nothing to do", (await attempts.Nth(1).Locator("td").Nth(1).TextContentAsync())?.Trim());

        var throughput = await page.EvaluateAsync<JsonElement>(
            "() => JSON.parse(document.querySelector('script[data-chart-for=throughput]').textContent)");
        var rates = throughput.GetProperty("rate").EnumerateArray().ToList();
        Assert.Equal(2, rates.Count);
        Assert.True(rates[0].ValueKind == JsonValueKind.Number && rates[0].GetDouble() > 0, throughput.ToString());
        Assert.Equal(JsonValueKind.Null, rates[1].ValueKind);
        await ConsoleBrowser.ScreenshotAsync(page, $"run-twice-{provider}");

        // The API's attempts carry the same judgement.
        using var detail = JsonDocument.Parse(await client.GetStringAsync($"/internal/batch/runs/{second.RunId}"));
        var judged = detail.RootElement.GetProperty("attempts").EnumerateArray()
            .Select(a => (a.GetProperty("foundNothingToDo").GetBoolean(), a.GetProperty("usersPerSecond").ValueKind)).ToList();
        Assert.Equal([(false, JsonValueKind.Number), (true, JsonValueKind.Null)], judged);
    }

    [Fact]
    public async Task While_an_attempt_runs_its_page_shows_that_attempts_own_counts_as_they_move()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, Settings());
        var server = app.StartOnKestrel();
        // The run waits for the test as long as the browser takes, which may be past HttpClient's default 100 s.
        using var client = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromMinutes(5) };
        var users = await app.AddActiveUsersAsync(12, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.BadRequest, [.. users[8..]]);
        app.Time.StartTicking();
        var first = await client.RunDayAsync(Day);
        Assert.Equal((8, 4), (first.Success, first.Failed));
        app.Extension.ClearFaults();

        // The continuation passes over the 8 users done and processes the 4 failed, as fast as the test lets it.
        app.Extension.HoldCalls();
        var running = client.RunDayAsync(Day);
        app.Extension.LetThrough(2);
        await Eventually.UntilAsync(async () => await CurrentAttemptAsync(app, first.RunId!.Value) is { Attempt: 2, Success: 2 } || running.IsCompleted,
            TimeSpan.FromSeconds(30));
        var page = await browser.OpenAsync(server);
        await page.GotoAsync($"internal/console/runs/{first.RunId}");
        Assert.Equal("running", await page.TextContentAsync("[data-field=run-status]"));
        Assert.Equal(("10", "2", "0"), (await page.TextContentAsync("[data-field=total]"), await page.TextContentAsync("[data-field=success]"),
            await page.TextContentAsync("[data-field=failed-count]")));

        // They move with the attempt's progress events, without a reload.
        app.Extension.LetThrough(1);
        await page.WaitForSelectorAsync("[data-field=success]:text-is('3')");
        Assert.Equal("11", await page.TextContentAsync("[data-field=total]"));
        await ConsoleBrowser.ScreenshotAsync(page, "run-continuation-running");

        app.Extension.StopHolding();
        var second = await running;
        Assert.Equal((BatchRunStatus.Completed, 4, 8), (second.Status, second.Success, second.Skipped));
        await page.WaitForSelectorAsync("[data-field=run-status]:text-is('completed')");
        Assert.Equal("4", await page.TextContentAsync("[data-field=success]"));
        var throughput = await page.EvaluateAsync<JsonElement>(
            "() => JSON.parse(document.querySelector('script[data-chart-for=throughput]').textContent)");
        Assert.All(throughput.GetProperty("rate").EnumerateArray(), rate => Assert.True(rate.ValueKind == JsonValueKind.Number, throughput.ToString()));
    }

    private static async Task<BatchRunAttempt?> CurrentAttemptAsync(CoreServerApp app, long runId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().AttemptsAsync(runId, CancellationToken.None)).LastOrDefault();
    }
}
