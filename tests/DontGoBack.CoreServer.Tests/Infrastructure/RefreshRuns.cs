using System.Net.Http.Json;
using DontGoBack.CoreServer.Batch.Common;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

public static class RefreshRuns
{
    /// <summary>The result without its run id and attempt, to compare with an expected result.</summary>
    public static BatchResult WithoutRun(this BatchResult result) => result with { RunId = null, Attempt = null };

    public const string Path = "/internal/batch/asset-refresh/runs";

    public static async Task<BatchResult> RunDayAsync(this HttpClient client, DateOnly day)
    {
        var response = await client.PostAsync($"{Path}?snapshotDay={day:yyyy-MM-dd}", null);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode || (int)response.StatusCode == 503, $"HTTP {(int)response.StatusCode}: {body}");
        return (await response.Content.ReadFromJsonAsync<BatchResult>())!;
    }
}
