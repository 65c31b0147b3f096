using System.Net;
using System.Net.Http.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

public static class OwedDays
{
    /// <summary>
    /// Starts the server (its schedule on) so that today is owed and nobody runs it: up at 02:00 in Seoul, before today's 03:00
    /// fire, so a fresh install keeps the schedule by then; its schedule then paused, so neither that fire nor a catch-up runs
    /// the day (the scheduler follows the server's clock); and the clock moved to <paramref name="now"/> (default 09:00, past the 06:00 deadline).
    /// </summary>
    public static async Task<HttpClient> StartOwingTodayAsync(this CoreServerApp app, DateTimeOffset? now = null)
    {
        app.Time.Now = CoreServerApp.DefaultNow - TimeSpan.FromHours(7);
        var client = app.CreateClient();
        var paused = await client.PostAsJsonAsync($"/internal/batch/{AssetRefreshJob.Name}/schedule/pause", new { reason = "nobody runs the day" });
        Assert.Equal(HttpStatusCode.OK, paused.StatusCode);
        app.Time.Now = now ?? CoreServerApp.DefaultNow;
        return client;
    }
}
