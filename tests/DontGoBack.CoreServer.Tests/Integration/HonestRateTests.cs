using System.Globalization;
using System.Text.Json;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Xunit.Abstractions;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>Users/s and the ETA of a run count the users it had to process, not those it passed over as done already.</summary>
public sealed class HonestRateTests(ITestOutputHelper output)
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    /// <summary>
    /// Of the server's clock, per extension call: a latency no loaded machine stretches, long beside the real time the
    /// run's other steps take (claiming, passing over the users done), so ±25% is a fair bound however slow the machine.
    /// </summary>
    private static readonly TimeSpan CallLatency = TimeSpan.FromSeconds(5);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_continuations_eta_read_a_quarter_into_its_work_lands_within_a_quarter_of_its_true_end(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Batch:ProgressInterval"] = "00:00:00.100",
            ["AssetRefresh:MaxConcurrency"] = "1",
            ["AssetRefresh:WriteChunkSize"] = "1",
            ["AssetRefresh:MaxWriteDelay"] = "00:00:00.010",
            // A call held by the test waits for it, not for a timeout that would fail its user.
            ["Extension:AttemptTimeout"] = "00:05:00",
            ["Extension:UserDeadline"] = "00:10:00",
        });
        var client = app.CreateClient();
        // The first attempt does three users in four; the quarter it failed is the continuation's work, at the end of the ids,
        // so the continuation first passes over 36 users done already, in its first instants.
        var users = await app.AddActiveUsersAsync(48, Day.AddDays(-1), 1_000_000);
        var toDo = users[36..];
        app.Extension.Inject(Fault.BadRequest, [.. toDo]);
        app.Time.StartTicking();
        var first = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.CompletedWithFailures, 36, 12), (first.Status, first.Success, first.Failed));
        app.Extension.ClearFaults();

        // From now on each call takes CallLatency of the server's time; the test lets them through.
        app.Extension.BeforeAnswer = () => app.Time.Advance(CallLatency);
        app.Extension.HoldCalls();
        var running = client.RunDayAsync(Day);
        var quarter = toDo.Count / 4;
        app.Extension.LetThrough(quarter);
        JsonElement reading = default;
        await Eventually.UntilAsync(async () =>
        {
            // The reading with the quarter's users processed: the test holds the next call meanwhile, so it is of that quarter.
            reading = await LiveProgressAsync(client) ?? default;
            return reading.ValueKind == JsonValueKind.Object && reading.GetProperty("success").GetInt32() >= quarter || running.IsCompleted;
        }, TimeSpan.FromSeconds(60));
        app.Extension.StopHolding();
        var second = await running;
        output.WriteLine(reading.ToString());

        Assert.Equal((BatchRunStatus.Completed, 12), (second.Status, second.Success));
        Assert.Equal(quarter, reading.GetProperty("success").GetInt32());
        var at = reading.GetProperty("at").GetDateTimeOffset();
        Assert.Equal(JsonValueKind.String, reading.GetProperty("eta").ValueKind);
        var predictedRest = reading.GetProperty("eta").GetDateTimeOffset() - at;
        var finishedAt = (await RunAsync(client, second.RunId!.Value)).GetProperty("run").GetProperty("finishedAt").GetDateTimeOffset();
        var actualRest = finishedAt - at;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"predicted rest {predictedRest.TotalSeconds:0.00} s, actual {actualRest.TotalSeconds:0.00} s"));
        Assert.InRange(predictedRest.TotalSeconds, actualRest.TotalSeconds * 0.75, actualRest.TotalSeconds * 1.25);
        // The rate is of the work done: about a user per call's latency, not the skipped ones' pace.
        Assert.InRange(reading.GetProperty("usersPerSecond").GetDouble(), 0.5 / CallLatency.TotalSeconds, 1.05 / CallLatency.TotalSeconds);
        Assert.Equal(toDo.Count, reading.GetProperty("expected").GetInt32());
    }

    private static async Task<JsonElement?> LiveProgressAsync(HttpClient client)
    {
        using var list = JsonDocument.Parse(await client.GetStringAsync("/internal/batch/runs?job=asset-refresh"));
        return list.RootElement.GetArrayLength() == 1 && list.RootElement[0].TryGetProperty("progress", out var progress)
            && progress.ValueKind == JsonValueKind.Object
            ? progress.Clone()
            : null;
    }

    private static async Task<JsonElement> RunAsync(HttpClient client, long id)
    {
        using var detail = JsonDocument.Parse(await client.GetStringAsync($"/internal/batch/runs/{id}"));
        return detail.RootElement.Clone();
    }
}
