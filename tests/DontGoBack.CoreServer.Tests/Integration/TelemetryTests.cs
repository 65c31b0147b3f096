using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

public sealed class TelemetryTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private const long StartAmount = 10_000_000;

    private static readonly string[] BoundedTagKeys = [BatchMetrics.JobTag, BatchMetrics.StatusTag, BatchMetrics.OutcomeTag, BatchMetrics.FailureClassTag];

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Users_processed_match_the_runs_counts_by_outcome_and_failure_class_with_bounded_tags(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var meters = app.Services.GetRequiredService<IMeterFactory>();
        using var users = new MetricCollector<long>(meters, BatchMetrics.MeterName, BatchMetrics.UsersProcessed);
        using var runs = new MetricCollector<double>(meters, BatchMetrics.MeterName, BatchMetrics.RunDuration);
        using var chunks = new MetricCollector<double>(meters, BatchMetrics.MeterName, BatchMetrics.ChunkWriteDuration);
        using var calls = new MetricCollector<double>(meters, BatchMetrics.MeterName, BatchMetrics.ExtensionCallDuration);
        using var active = new MetricCollector<long>(meters, BatchMetrics.MeterName, BatchMetrics.ActiveRuns);
        var ids = await app.AddActiveUsersAsync(12, Day.AddDays(-1), StartAmount);
        var done = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), StartAmount), (Day, StartAmount));
        app.Extension.Inject(Fault.ServerError, ids[1], ids[2]);
        app.Extension.Inject(Fault.BadRequest, ids[4]);

        var result = await client.RunDayAsync(Day);

        Assert.Equal((13, 9, 1, 3), (result.Total, result.Success, result.Skipped, result.Failed));
        var measured = users.GetMeasurementSnapshot();
        long Sum(string outcome, string? failureClass = null) => measured
            .Where(m => Equals(m.Tags[BatchMetrics.OutcomeTag], outcome)
                        && (failureClass is null || Equals(m.Tags[BatchMetrics.FailureClassTag], failureClass)))
            .Sum(m => m.Value);
        Assert.Equal(result.Success, Sum("success"));
        Assert.Equal(result.Skipped, Sum("skipped"));
        Assert.Equal(result.Failed, Sum("failed"));
        Assert.Equal(2, Sum("failed", "transient"));
        Assert.Equal(1, Sum("failed", "permanent"));

        var run = Assert.Single(runs.GetMeasurementSnapshot());
        Assert.Equal(result.ElapsedMs / 1000.0, run.Value, precision: 3);
        Assert.Equal([(BatchMetrics.JobTag, (object?)AssetRefreshJob.Name), (BatchMetrics.StatusTag, "completed_with_failures")],
            run.Tags.OrderBy(t => t.Key).Select(t => (t.Key, t.Value)));
        Assert.NotEmpty(chunks.GetMeasurementSnapshot());
        // One call per user asked (the skipped one is not), its retries inside the same measurement.
        Assert.Equal(12, calls.GetMeasurementSnapshot().Count);

        // Bounded: only the known keys, job and outcome from fixed sets, never a user id or the day.
        var everyTag = measured.SelectMany(m => m.Tags)
            .Concat(runs.GetMeasurementSnapshot().SelectMany(m => m.Tags))
            .Concat(chunks.GetMeasurementSnapshot().SelectMany(m => m.Tags))
            .Concat(calls.GetMeasurementSnapshot().SelectMany(m => m.Tags)).ToList();
        Assert.All(everyTag, tag => Assert.Contains(tag.Key, BoundedTagKeys));
        Assert.All(measured, m => Assert.Equal(AssetRefreshJob.Name, m.Tags[BatchMetrics.JobTag]));
        Assert.All(measured, m => Assert.Contains(m.Tags[BatchMetrics.OutcomeTag], new object[] { "success", "skipped", "failed" }));
        Assert.All(measured.Where(m => m.Tags.ContainsKey(BatchMetrics.FailureClassTag)),
            m => Assert.Contains((string)m.Tags[BatchMetrics.FailureClassTag]!, Enum.GetNames<FailureClass>().Select(n => n.ToLowerInvariant())));
        var ownValues = ids.Append(done).Select(id => id.ToString()).Append(Day.ToString("O")).ToHashSet();
        Assert.DoesNotContain(everyTag, tag => ownValues.Contains(tag.Value?.ToString() ?? ""));

        active.RecordObservableInstruments();
        Assert.Equal(0, active.LastMeasurement!.Value);
        Assert.Equal(AssetRefreshJob.Name, active.LastMeasurement.Tags[BatchMetrics.JobTag]);
    }

    [Fact]
    public async Task A_run_in_progress_counts_as_active_and_reports_its_users_per_second()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        // The held call must outlast the checks, not time out into a retry.
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["Extension:AttemptTimeout"] = "00:00:20" });
        var client = app.CreateClient();
        var meters = app.Services.GetRequiredService<IMeterFactory>();
        using var active = new MetricCollector<long>(meters, BatchMetrics.MeterName, BatchMetrics.ActiveRuns);
        using var rate = new MetricCollector<double>(meters, BatchMetrics.MeterName, BatchMetrics.UsersPerSecond);
        var ids = await app.AddActiveUsersAsync(12, Day.AddDays(-1), StartAmount);
        app.Extension.Inject(Fault.Block, ids[^1]);

        var running = client.RunDayAsync(Day);
        await app.Extension.BlockedCallArrived.WaitAsync(TimeSpan.FromSeconds(30));
        // The first users' chunks are written (MaxWriteDelay) while the last call is held.
        await Eventually.UntilAsync(async () =>
        {
            await Task.Yield();
            rate.RecordObservableInstruments();
            return rate.LastMeasurement is { Value: > 0 };
        }, TimeSpan.FromSeconds(30));
        active.RecordObservableInstruments();
        Assert.Equal(1, active.LastMeasurement!.Value);

        app.Extension.ReleaseBlocked();
        Assert.Equal(12, (await running).Success);
        active.RecordObservableInstruments();
        Assert.Equal(0, active.LastMeasurement!.Value);
    }

    [Fact]
    public async Task A_run_traces_its_page_reads_and_chunk_writes_beneath_its_activity_with_run_id_and_day()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        app.CreateClient();
        await app.AddActiveUsersAsync(12, Day.AddDays(-1), StartAmount);
        // The activity source is process-wide and tests run in parallel: this test's activities are the ones in its own trace.
        using var testSource = new ActivitySource("DontGoBack.Tests." + nameof(TelemetryTests));
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == BatchMetrics.ActivitySourceName || source == testSource,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        BatchResult? result;
        ActivityTraceId trace;
        using (var root = testSource.StartActivity("test")!)
        {
            trace = root.TraceId;
            await using var scope = app.Services.CreateAsyncScope();
            result = await scope.ServiceProvider.GetRequiredService<DailyJobRunner<AssetRefreshJob>>().TryRunAsync(Day, CancellationToken.None);
        }

        Assert.Equal(12, result!.Success);
        var ours = stopped.Where(a => a.TraceId == trace && a.Source.Name == BatchMetrics.ActivitySourceName).ToList();
        var run = Assert.Single(ours, a => a.OperationName == $"{AssetRefreshJob.Name} run");
        Assert.Equal(result.RunId, run.GetTagItem(BatchMetrics.RunIdTag));
        Assert.Equal("2025-08-10", run.GetTagItem(BatchMetrics.DayTag));
        Assert.Equal("completed", run.GetTagItem(BatchMetrics.StatusTag));
        var pages = ours.Where(a => a.OperationName == "page read").ToList();
        var writes = ours.Where(a => a.OperationName == "chunk write").ToList();
        // 12 users in pages of 7: two pages; chunks of 5 or fewer, 12 results.
        Assert.Equal(2, pages.Count);
        Assert.Equal(12, writes.Sum(w => (int)w.GetTagItem("batch.chunk.results")!));
        Assert.All(pages.Concat(writes), child => Assert.Equal(run.SpanId, child.ParentSpanId));
    }

    [Fact]
    public async Task Our_series_are_named_in_base_units_as_promtool_check_metrics_wants()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        // The schedule on, so the watch feeds the schedule gauges: 09:00 in Seoul, today's 06:00 deadline has passed.
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["AssetRefresh:Enabled"] = "true" });
        var client = app.CreateClient();
        await app.AddActiveUsersAsync(2, Day.AddDays(-1), StartAmount);
        await client.RunDayAsync(Day);

        var text = "";
        await Eventually.UntilAsync(async () =>
        {
            text = await client.GetStringAsync("/metrics");
            return text.Contains("# TYPE dontgoback_batch_schedule_since_last_through_seconds gauge", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(10));

        Assert.Contains("# TYPE dontgoback_batch_schedule_overdue gauge", text);
        var ours = Regex.Matches(text, @"^# TYPE (dontgoback_\w+) ", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(ours);
        Assert.All(ours, name => Assert.Null(PromtoolUnitProblem(name)));
    }

    /// <summary>
    /// promtool's unit lint: a name part that is a unit (or a prefixed one, as `milliseconds`) must be a
    /// base unit; `days` asks for `seconds`. Returns the offending part, or null.
    /// </summary>
    private static string? PromtoolUnitProblem(string name)
    {
        string[] baseUnits = ["amperes", "bytes", "celsius", "grams", "joules", "kelvin", "meters", "metres", "seconds", "volts"];
        string[] otherUnits = ["amps", "days", "fahrenheit", "hours", "minutes", "weeks", "years", "inches", "ounces", "pounds", "calories", "hertz"];
        string[] prefixes = ["pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega", "mebi", "giga", "gibi", "tera", "tebi", "peta", "pebi"];
        return name.Split('_').FirstOrDefault(part => otherUnits.Contains(part)
            || prefixes.Any(p => part.StartsWith(p, StringComparison.Ordinal) && (baseUnits.Contains(part[p.Length..]) || otherUnits.Contains(part[p.Length..]))));
    }

    [Fact]
    public async Task Metrics_endpoint_answers_in_Prometheus_text_format_to_internal_callers_only()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var ids = await app.AddActiveUsersAsync(6, Day.AddDays(-1), StartAmount);
        // Retried calls, so the resilience pipeline has events to report.
        app.Extension.Inject(Fault.ServerError, ids[0]);
        var result = await client.RunDayAsync(Day);

        var response = await client.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("# TYPE dontgoback_batch_users_processed_total counter", text);
        // The exporter listens to the meter by name in the whole process, where parallel tests run
        // servers of their own, each with its own meter of that name: the same series can come once
        // per server, so this server's count is in their sum. The exact counts are checked per server
        // above, through IMeterFactory.
        var successes = new Regex(@"^dontgoback_batch_users_processed_total\{[^}]*batch_job=""asset-refresh""[^}]*batch_outcome=""success""[^}]*\} (\d+)$",
            RegexOptions.Multiline).Matches(text);
        Assert.True(successes.Count > 0, text);
        Assert.True(successes.Sum(line => long.Parse(line.Groups[1].Value, CultureInfo.InvariantCulture)) >= result.Success, text);
        Assert.Contains("# TYPE dontgoback_batch_run_duration_seconds histogram", text);
        Assert.Contains("dontgoback_batch_run_duration_seconds_count{", text);
        Assert.Contains("# TYPE http_server_request_duration_seconds histogram", text);
        Assert.Contains("# TYPE dotnet_gc_collections_total counter", text);
        Assert.Matches(new Regex(@"^resilience_polly_strategy_events_total\{[^}]*event_name=""OnRetry""", RegexOptions.Multiline), text);
        // Dropped by a view: they would repeat http_client_request_duration_seconds at two recordings per call.
        Assert.DoesNotContain("resilience_polly_pipeline_duration", text);
        Assert.DoesNotContain("resilience_polly_strategy_attempt_duration", text);

        app.RemoteAddress = IPAddress.Parse("203.0.113.9");
        await (await client.GetAsync("/metrics")).AssertProblemAsync(HttpStatusCode.Forbidden, "203.0.113.9");
    }
}
