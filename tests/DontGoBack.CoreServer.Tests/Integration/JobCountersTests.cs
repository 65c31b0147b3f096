using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// A job's own counters (the asset refresh's re-based users and days) go through the engine without it
/// knowing their names: each attempt keeps its own, the day sums them, and the trigger's result, the runs
/// API and the console's run page show them as the job says them.
/// </summary>
[Collection(ConsoleBrowserCollection.Name)]
public sealed class JobCountersTests(ConsoleBrowser browser)
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private static readonly DateOnly Yesterday = Day.AddDays(-1);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Re_based_counts_are_kept_per_attempt_summed_for_the_day_and_shown_in_the_jobs_words(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server };
        var users = await app.AddActiveUsersAsync(3, Day.AddDays(-2), 10_000_000);

        // Yesterday fails for two users, today goes through, then yesterday's retries write one late user each:
        // each retry re-bases its user's today, so the day re-based two users over two attempts.
        app.Extension.Inject(FakeExtensionServer.Fault.ServerError, users[1], users[2]);
        Assert.Equal(2, (await client.RunDayAsync(Yesterday)).Failed);
        app.Extension.ClearFaults();
        Assert.Equal(3, (await client.RunDayAsync(Day)).Success);
        app.Extension.Inject(FakeExtensionServer.Fault.ServerError, users[2]);
        var second = await client.RunDayAsync(Yesterday);
        Assert.Equal((1, 1, new AssetRefreshCounters(1, 1)), (second.Success, second.Failed, second.Rebased()));
        app.Extension.ClearFaults();
        var response = await client.PostAsync($"{RefreshRuns.Path}?day={Yesterday:yyyy-MM-dd}", null);
        var body = await response.Content.ReadAsStringAsync();

        // The trigger's result: the job's counters as a flat object beside the engine's day.
        using (var result = JsonDocument.Parse(body))
        {
            Assert.Equal($"{Yesterday:yyyy-MM-dd}", result.RootElement.GetProperty("day").GetString());
            Assert.Equal("""{"rebasedDays":1,"rebasedUsers":1}""", result.RootElement.GetProperty("counters").GetRawText());
            Assert.False(result.RootElement.TryGetProperty("snapshotDay", out _), body);
            Assert.False(result.RootElement.TryGetProperty("rebasedUsers", out _), body);
        }
        var third = await RefreshRuns.ResultOfAsync(response);
        Assert.Equal(new AssetRefreshCounters(1, 1), third.Rebased());

        // The runs API: the latest attempt's own counters on the run, the day's summed over its attempts.
        using (var listed = JsonDocument.Parse(await client.GetStringAsync($"/internal/batch/runs?job=asset-refresh&from={Yesterday:yyyy-MM-dd}&to={Yesterday:yyyy-MM-dd}")))
        {
            var run = Assert.Single(listed.RootElement.EnumerateArray());
            Assert.Equal(($"{Yesterday:yyyy-MM-dd}", 3), (run.GetProperty("day").GetString(), run.GetProperty("attempts").GetInt32()));
            Assert.Equal("""{"rebasedDays":1,"rebasedUsers":1}""", run.GetProperty("counters").GetRawText());
            Assert.Equal("""{"rebasedDays":2,"rebasedUsers":2}""", run.GetProperty("dayView").GetProperty("counters").GetRawText());
        }
        using (var detail = JsonDocument.Parse(await client.GetStringAsync($"/internal/batch/runs/{third.RunId}")))
        {
            Assert.Equal(["{}", """{"rebasedDays":1,"rebasedUsers":1}""", """{"rebasedDays":1,"rebasedUsers":1}"""],
                detail.RootElement.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("counters").GetRawText()));
            Assert.Equal("""{"rebasedDays":2,"rebasedUsers":2}""", detail.RootElement.GetProperty("dayView").GetProperty("counters").GetRawText());
        }

        // The console's run page says the day's counters in the job's words; a day that re-based nothing says nothing of it.
        var page = await browser.OpenAsync(server);
        await page.GotoAsync($"internal/console/runs/{third.RunId}");
        Assert.Equal("re-based 2 later days of 2 users", await page.TextContentAsync("[data-field=day-counters]"));
        long todayRun;
        await using (var db = database.CreateContext())
            todayRun = await db.BatchRuns.Where(r => r.JobName == AssetRefreshJob.Name && r.Day == Day).Select(r => r.Id).SingleAsync();
        await page.GotoAsync($"internal/console/runs/{todayRun}");
        await page.WaitForSelectorAsync("[data-field=day-counts]");
        Assert.Equal(0, await page.Locator("[data-field=day-counters]").CountAsync());
    }
}
