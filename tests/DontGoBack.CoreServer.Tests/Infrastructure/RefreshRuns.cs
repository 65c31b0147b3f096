using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.Batch.Runs;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

public static class RefreshRuns
{
    /// <summary>The result without its run id and attempt, to compare with an expected result.</summary>
    public static BatchResult WithoutRun(this BatchResult result) => result with { RunId = null, Attempt = null };

    /// <summary>The asset refresh's own counters of a result (re-based users and days), as the job declares them.</summary>
    public static AssetRefreshCounters Rebased(this BatchResult result) => result.Counters.As<AssetRefreshCounters>();

    /// <summary>The asset refresh's own counters of a run's latest attempt, as stored.</summary>
    public static AssetRefreshCounters Rebased(this BatchRun run) => BatchCounters.FromJson(run.Counters).As<AssetRefreshCounters>();

    public const string Path = "/internal/batch/asset-refresh/runs";

    public static async Task<BatchResult> RunDayAsync(this HttpClient client, DateOnly day) =>
        await ResultOfAsync(await client.PostAsync($"{Path}?day={day:yyyy-MM-dd}", null));

    /// <summary>The batch result of a trigger's answer: the body of a 200, or the <c>result</c> of a 503 problem (a failed run).</summary>
    public static async Task<BatchResult> ResultOfAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode == 503)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(body);
            return problem.RootElement.GetProperty("result").Deserialize<BatchResult>(JsonSerializerOptions.Web)!;
        }
        Assert.True(response.IsSuccessStatusCode, $"HTTP {(int)response.StatusCode}: {body}");
        return JsonSerializer.Deserialize<BatchResult>(body, JsonSerializerOptions.Web)!;
    }
}
