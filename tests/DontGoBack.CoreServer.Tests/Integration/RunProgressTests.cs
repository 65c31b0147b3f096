using System.Text.Json;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Telemetry;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Xunit.Abstractions;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class RunProgressTests(ITestOutputHelper output)
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    private static Dictionary<string, string?> Settings(int concurrency) => new()
    {
        ["Batch:ProgressInterval"] = "00:00:00.150",
        ["AssetRefresh:MaxConcurrency"] = concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["AssetRefresh:WriteChunkSize"] = "2",
        ["AssetRefresh:MaxWriteDelay"] = "00:00:00.050",
    };

    /// <summary>
    /// A renewal writes the run's heartbeat, then the attempt's counts: read between the two, the heartbeat is a renewal newer
    /// than the counts. The reading is dated by the counts' own write, so its rate is of the time they took (seen once
    /// under load: two readings with different counts and one time).
    /// </summary>
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Read_between_a_renewals_heartbeat_and_its_counts_the_counts_keep_their_own_time(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        _ = app.CreateClient();
        var start = CoreServerApp.DefaultNow;
        long runId;
        await using (var db = database.CreateContext())
        {
            var run = new BatchRun
            {
                JobName = "asset-refresh", Day = Day, Status = BatchRunStatus.Running, StartedAt = start, HeartbeatAt = start.AddSeconds(20),
                LeaseOwner = "another node", Attempts = 1,
            };
            db.BatchRuns.Add(run);
            await db.SaveChangesAsync();
            runId = run.Id;
            db.BatchRunAttempts.Add(new BatchRunAttempt
            {
                RunId = runId, Attempt = 1, Status = BatchRunStatus.Running, StartedAt = start, UpdatedAt = start.AddSeconds(10), Expected = 100,
                Total = 50, Success = 50,
            });
            await db.SaveChangesAsync();
        }

        await using var scope = app.Services.CreateAsyncScope();
        var found = await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().FindAsync(runId, CancellationToken.None);
        var view = await scope.ServiceProvider.GetRequiredService<RunProgressReader>().LiveAsync(found!, CancellationToken.None);

        // 50 users in the attempt's first 10 s: 5 users/s, the other 50 due 10 s later; not 2.5 users/s over the heartbeat's 20 s.
        Assert.NotNull(view);
        Assert.Equal((start.AddSeconds(10), 5.0, start.AddSeconds(20)), (view.At, view.UsersPerSecond, view.Eta));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_slowed_run_shows_its_progress_moving_forward_with_a_plausible_eta(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings(concurrency: 1));
        var client = app.CreateClient();
        const int users = 40;
        await app.AddActiveUsersAsync(users, Day.AddDays(-1), 1_000_000);
        // About 3 s of run for 40 users one at a time: room for many 150 ms progress writes even when a poll of the API is slow.
        app.Extension.Latency = TimeSpan.FromMilliseconds(80);
        app.Time.StartTicking();

        var running = client.RunDayAsync(Day);
        // Read on the API's own connections while the run writes on its own.
        var readings = new List<RunProgressView>();
        await Eventually.UntilAsync(async () =>
        {
            if (await LiveProgressAsync(client) is { Seen: > 0 } reading && (readings.Count == 0 || reading.Seen > readings[^1].Seen))
                readings.Add(reading);
            // A quarter of the users in, so the rate behind the ETA is not the first few calls' alone,
            // which one stall of a loaded machine can slow several times over.
            return (readings.Count >= 3 && readings[^1].Seen >= users / 4) || running.IsCompleted;
        }, TimeSpan.FromSeconds(30));
        var result = await running;
        output.WriteLine(string.Join(Environment.NewLine, readings.Select(r => JsonSerializer.Serialize(r, JsonSerializerOptions.Web))));
        Assert.True(readings.Count >= 3, $"the run was through after {readings.Count} progress readings");

        Assert.All(readings, r => Assert.Equal(users, r.Expected));
        Assert.All(readings, r => Assert.Equal(r.Seen, r.Success + r.Skipped + r.Failed));
        Assert.True(readings.Zip(readings.Skip(1)).All(pair => pair.Second.Seen > pair.First.Seen && pair.Second.At > pair.First.At));
        var last = readings[^1];
        Assert.True(last.Seen < users && last.UsersPerSecond > 0 && last.Eta > last.At, JsonSerializer.Serialize(last));
        // Plausible: the rest took about as long as the ETA said (the rate is steady: one slowed call at a time).
        var run = await RunAsync(client, result.RunId!.Value);
        var actualRest = run.GetProperty("run").GetProperty("finishedAt").GetDateTimeOffset() - last.At;
        var predictedRest = last.Eta!.Value - last.At;
        Assert.InRange(predictedRest.TotalSeconds, actualRest.TotalSeconds / 3, actualRest.TotalSeconds * 3);
        Assert.Equal(JsonValueKind.Null, run.GetProperty("progress").ValueKind);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_rerun_keeps_what_the_first_attempt_did_and_the_day_adds_the_attempts_up(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(6, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.BadRequest, users[2], users[4]);
        await client.RunDayAsync(Day);
        app.Extension.ClearFaults();
        var second = await client.RunDayAsync(Day);

        var detail = await RunAsync(client, second.RunId!.Value);
        var attempts = detail.GetProperty("attempts").EnumerateArray()
            .Select(a => (a.GetProperty("attempt").GetInt32(), a.GetProperty("status").GetString(), a.GetProperty("expected").GetInt32(),
                a.GetProperty("total").GetInt32(), a.GetProperty("success").GetInt32(), a.GetProperty("skipped").GetInt32(), a.GetProperty("failed").GetInt32()))
            .ToList();
        // The second attempt's work was the 2 users the first left failed: the 4 it passed over as done were no work.
        Assert.Equal([(1, "completed_with_failures", 6, 6, 4, 0, 2), (2, "completed", 2, 6, 2, 4, 0)], attempts);
        Assert.Equal((6, 0), (detail.GetProperty("dayView").GetProperty("written").GetInt32(), detail.GetProperty("dayView").GetProperty("failedNow").GetInt32()));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_aborted_run_records_what_it_wrote_and_the_metrics_show_what_was_left(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = Settings(concurrency: 4);
        // The held call must outlast the wait for the others' writes, not time out into a failure.
        settings["Extension:AttemptTimeout"] = "00:00:30";
        await using var app = new CoreServerApp(database, settings);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(12, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.Block, users[^1]);
        using var remaining = new MetricCollector<long>(app.Services.GetRequiredService<IMeterFactory>(), BatchMetrics.MeterName, BatchMetrics.UsersRemaining);

        using var stop = new CancellationTokenSource();
        await using var scope = app.Services.CreateAsyncScope();
        var runner = scope.ServiceProvider.GetRequiredService<BatchJobs>().Find("asset-refresh").RunnerIn(scope.ServiceProvider);
        var running = runner.TryRunAsync(Day, stop.Token);
        await app.Extension.BlockedCallArrived.WaitAsync(TimeSpan.FromSeconds(30));
        // Every user but the blocked one is answered; once their answers are written and counted
        // (the gauge shows the one left), the run is stopped.
        await Eventually.UntilAsync(async () =>
        {
            remaining.RecordObservableInstruments();
            return remaining.LastMeasurement?.Value == 1 && await WrittenAsync(app, users) == users.Count - 1;
        }, TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);

        using var list = JsonDocument.Parse(await client.GetStringAsync("/internal/batch/runs?job=asset-refresh"));
        var run = Assert.Single(list.RootElement.EnumerateArray());
        Assert.Equal(("aborted", 11, 11), (run.GetProperty("status").GetString(), run.GetProperty("success").GetInt32(), run.GetProperty("total").GetInt32()));
        var attempt = Assert.Single((await RunAsync(client, run.GetProperty("id").GetInt64())).GetProperty("attempts").EnumerateArray());
        Assert.Equal(("aborted", 12, 11), (attempt.GetProperty("status").GetString(), attempt.GetProperty("expected").GetInt32(), attempt.GetProperty("success").GetInt32()));
    }

    private static async Task<int> WrittenAsync(CoreServerApp app, IEnumerable<long> users)
    {
        var written = 0;
        foreach (var user in users)
            written += (await app.SnapshotsOfAsync(user)).Count(s => s.SnapshotDay == Day);
        return written;
    }

    private static async Task<RunProgressView?> LiveProgressAsync(HttpClient client)
    {
        using var list = JsonDocument.Parse(await client.GetStringAsync("/internal/batch/runs?job=asset-refresh"));
        // Nothing listed until the run has claimed its day.
        return list.RootElement.GetArrayLength() == 1 && list.RootElement[0].TryGetProperty("progress", out var progress)
            ? progress.Deserialize<RunProgressView>(JsonSerializerOptions.Web)
            : null;
    }

    private static async Task<JsonElement> RunAsync(HttpClient client, long id)
    {
        using var detail = JsonDocument.Parse(await client.GetStringAsync($"/internal/batch/runs/{id}"));
        return detail.RootElement.Clone();
    }
}
