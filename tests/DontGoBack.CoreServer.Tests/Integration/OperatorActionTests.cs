using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Quartz;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>Cancel, pause and resume through the HTTP API, each in the audit trail with who, from where and why.</summary>
public sealed class OperatorActionTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static async Task<JsonElement> AuditAsync(HttpClient client) =>
        (await client.GetFromJsonAsync<JsonElement>("/internal/batch/audit?pageSize=20")).GetProperty("actions");

    private static async Task<JsonElement> RunAsync(HttpClient client, long id) =>
        await client.GetFromJsonAsync<JsonElement>($"/internal/batch/runs/{id}");

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_cancelled_attempt_keeps_the_not_due_and_rebased_counts_it_had_reached(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Batch:ProgressInterval"] = "00:00:00.100", ["AssetRefresh:MaxConcurrency"] = "1", ["AssetRefresh:WriteChunkSize"] = "2",
            ["AssetRefresh:MaxWriteDelay"] = "00:00:00.050",
        });
        var client = app.CreateClient();
        var day = Day.AddDays(-1);
        // Read in id order, one call at a time: first three accounts that open after the day (not due), then two users whose
        // later day the day's snapshot re-bases, then enough others that the run is still working when the cancel comes.
        for (var i = 0; i < 3; i++)
            await app.AddUserAsync(AccountStatus.Active, (Day, 1_000_000));
        for (var i = 0; i < 2; i++)
            await app.AddUserAsync(AccountStatus.Active, (day.AddDays(-1), 1_000_000), (Day, 1_100_000));
        await app.AddActiveUsersAsync(100, day.AddDays(-1), 1_000_000);
        app.Extension.Latency = TimeSpan.FromMilliseconds(100);
        app.Time.StartTicking();

        var running = client.PostAsync($"/internal/batch/{AssetRefreshJob.Name}/runs?day={day:yyyy-MM-dd}", null);
        long runId = 0;
        // The two re-based users are the first written: once the run has written two, both counts are reached.
        await Eventually.UntilAsync(async () =>
        {
            var runs = await client.GetFromJsonAsync<JsonElement>("/internal/batch/runs");
            var live = runs.EnumerateArray().FirstOrDefault(r => r.TryGetProperty("progress", out var p) && p.GetProperty("success").GetInt32() >= 2);
            runId = live.ValueKind == JsonValueKind.Object ? live.GetProperty("id").GetInt64() : 0;
            return runId > 0;
        }, Patience);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync($"/internal/batch/runs/{runId}/cancel", new { reason = "keep the counts" })).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await running).StatusCode);

        var detail = await RunAsync(client, runId);
        var attempt = Assert.Single(detail.GetProperty("attempts").EnumerateArray());
        Assert.Equal("aborted", attempt.GetProperty("status").GetString());
        Assert.InRange(attempt.GetProperty("success").GetInt32(), 2, 104);
        Assert.Equal(3, attempt.GetProperty("notDue").GetInt32());
        Assert.Equal((2, 2), (attempt.GetProperty("counters").GetProperty("rebasedUsers").GetInt32(),
            attempt.GetProperty("counters").GetProperty("rebasedDays").GetInt32()));
        var dayView = detail.GetProperty("dayView");
        Assert.Equal(3, dayView.GetProperty("notDue").GetInt32());
        Assert.Equal(2, dayView.GetProperty("counters").GetProperty("rebasedUsers").GetInt32());
        await using var db = database.CreateContext();
        var stored = await db.BatchRunAttempts.AsNoTracking().SingleAsync(a => a.RunId == runId);
        Assert.Equal((3, 2), (stored.NotDue, BatchCounters.FromJson(stored.Counters).As<DontGoBack.CoreServer.Batch.Asset.UseCase.AssetRefreshCounters>().RebasedUsers));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_cancelled_run_stops_aborted_with_the_reason_and_the_next_trigger_resumes_it(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Batch:ProgressInterval"] = "00:00:00.100", ["AssetRefresh:MaxConcurrency"] = "1", ["AssetRefresh:WriteChunkSize"] = "2",
            ["AssetRefresh:MaxWriteDelay"] = "00:00:00.050",
        });
        var client = app.CreateClient();
        await app.AddActiveUsersAsync(150, Day.AddDays(-1), 1_000_000);
        // Up to 15 s of run, one slowed call at a time: it is still working when the cancel comes, even on a loaded machine.
        app.Extension.Latency = TimeSpan.FromMilliseconds(100);
        app.Time.StartTicking();

        var running = client.PostAsync($"/internal/batch/{AssetRefreshJob.Name}/runs?day={Day:yyyy-MM-dd}&reason=first%20try", null);
        long runId = 0;
        await Eventually.UntilAsync(async () =>
        {
            var runs = await client.GetFromJsonAsync<JsonElement>("/internal/batch/runs");
            var live = runs.EnumerateArray().FirstOrDefault(r => r.TryGetProperty("progress", out var p) && p.GetProperty("seen").GetInt32() > 0);
            runId = live.ValueKind == JsonValueKind.Object ? live.GetProperty("id").GetInt64() : 0;
            return runId > 0;
        }, Patience);

        var noReason = await client.PostAsJsonAsync($"/internal/batch/runs/{runId}/cancel", new { reason = "   " });
        var cancel = await client.PostAsJsonAsync($"/internal/batch/runs/{runId}/cancel", new { reason = "wrong market data" });
        var stopped = await running;

        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, stopped.StatusCode);
        var stoppedProblem = await stopped.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Run cancelled", stoppedProblem.GetProperty("title").GetString());
        var aborted = (await RunAsync(client, runId)).GetProperty("run");
        Assert.Equal(("aborted", "cancelled by an operator: wrong market data"),
            (aborted.GetProperty("status").GetString(), aborted.GetProperty("error").GetString()));
        var written = aborted.GetProperty("success").GetInt32();
        Assert.InRange(written, 1, 149);
        await using (var db = database.CreateContext())
            Assert.Equal(written, await db.DailyAssetSnapshots.CountAsync(s => s.SnapshotDay == Day));

        // A cancel of a run that is not running is refused, and audited as such; an unknown run is a 404.
        var again = await client.PostAsJsonAsync($"/internal/batch/runs/{runId}/cancel", new { reason = "twice" });
        var unknown = await client.PostAsJsonAsync("/internal/batch/runs/999999/cancel", new { reason = "nothing" });
        Assert.Equal((HttpStatusCode.Conflict, HttpStatusCode.NotFound), (again.StatusCode, unknown.StatusCode));

        // Resumed: the next attempt skips what the cancelled one wrote.
        app.Extension.Latency = TimeSpan.Zero;
        var resumed = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.Completed, 150 - written, written, 2), (resumed.Status, resumed.Success, resumed.Skipped, resumed.Attempt));

        var audit = await AuditAsync(client);
        var rows = audit.EnumerateArray().Select(a => (a.GetProperty("action").GetString(), a.GetProperty("outcome").GetString(),
            a.TryGetProperty("reason", out var r) ? r.GetString() : null)).ToList();
        // Every request has its row: the invalid ones too, and the cancel that stopped the run says it was applied.
        Assert.Equal([
            ("trigger", "accepted", null), ("cancel", "invalid", "nothing"), ("cancel", "refused", "twice"), ("cancel", "applied", "wrong market data"),
            ("cancel", "invalid", null), ("trigger", "accepted", "first try"),
        ], rows);
        Assert.All(audit.EnumerateArray(), a => Assert.Equal(("127.0.0.1", Operator.NoToken),
            (a.GetProperty("address").GetString(), a.GetProperty("tokenName").GetString())));
        Assert.StartsWith($"applied: run {runId} stopped aborted", audit[3].GetProperty("detail").GetString());
        Assert.Equal("there is no run 999999", audit[1].GetProperty("detail").GetString());
        Assert.StartsWith($"run {runId} aborted", audit[5].GetProperty("detail").GetString());
        // The trigger's problem names its audit row, as every other action's problem does.
        Assert.Equal(audit[5].GetProperty("id").GetInt64(), stoppedProblem.GetProperty("auditId").GetInt64());
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_paused_schedule_runs_nothing_by_itself_until_resumed_and_both_are_audited(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:Enabled"] = "true", ["InternalAccess:AdminToken"] = "s3cret",
        });
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Add("X-Admin-Token", "s3cret");
        await app.AddActiveUsersAsync(3, Day.AddDays(-1), 1_000_000);
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var cronKey = AssetRefreshJob.Definition.CronKey;

        var withoutReason = await client.PostAsJsonAsync($"/internal/batch/{AssetRefreshJob.Name}/schedule/pause", new { });
        // Hostile reasons: nothing left after cleaning, too long, not a string.
        foreach (var hostile in new object[] { new { reason = "\u0000\u0001\t" }, new { reason = new string('a', 501) }, new { reason = 123 } })
        {
            var refused = await client.PostAsJsonAsync($"/internal/batch/{AssetRefreshJob.Name}/schedule/pause", hostile);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        }
        var unknownJob = await client.PostAsJsonAsync("/internal/batch/no-such-job/schedule/pause", new { reason = "x" });
        var pause = await client.PostAsJsonAsync($"/internal/batch/{AssetRefreshJob.Name}/schedule/pause", new { reason = "extension maintenance" });
        var pauseAgain = await client.PostAsJsonAsync($"/internal/batch/{AssetRefreshJob.Name}/schedule/pause", new { reason = "again" });

        Assert.Equal((HttpStatusCode.BadRequest, HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.Conflict),
            (withoutReason.StatusCode, unknownJob.StatusCode, pause.StatusCode, pauseAgain.StatusCode));
        Assert.Equal(TriggerState.Paused, await scheduler.GetTriggerState(cronKey));
        var schedules = await client.GetFromJsonAsync<JsonElement>("/internal/batch/schedules");
        var refresh = schedules.EnumerateArray().Single(s => s.GetProperty("job").GetString() == AssetRefreshJob.Name);
        Assert.Equal("extension maintenance", refresh.GetProperty("paused").GetProperty("reason").GetString());
        Assert.Equal(0, refresh.GetProperty("nextFires").GetArrayLength());

        // A fire that gets through anyway (the start-up catch-up, a chained day) finds the pause and runs nothing.
        await scheduler.TriggerJob(AssetRefreshJob.Definition.FireKey, DailyJobFire.CatchUpData);
        await app.Logs.WaitForAsync(e => e.Message.Contains("not run: its schedule is paused (extension maintenance)"), Patience);
        await using (var db = database.CreateContext())
            Assert.Equal(0, await db.BatchRuns.CountAsync());

        var resume = await client.PostAsJsonAsync($"/internal/batch/{AssetRefreshJob.Name}/schedule/resume", new { reason = "maintenance over" });
        var resumeAgain = await client.PostAsJsonAsync($"/internal/batch/{AssetRefreshJob.Name}/schedule/resume", new { reason = "again" });
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.Conflict), (resume.StatusCode, resumeAgain.StatusCode));
        Assert.Equal(TriggerState.Normal, await scheduler.GetTriggerState(cronKey));
        schedules = await client.GetFromJsonAsync<JsonElement>("/internal/batch/schedules");
        refresh = schedules.EnumerateArray().Single(s => s.GetProperty("job").GetString() == AssetRefreshJob.Name);
        Assert.Equal(JsonValueKind.Null, refresh.GetProperty("paused").ValueKind);
        var next = refresh.GetProperty("nextFires")[0];
        Assert.Equal(new DateTimeOffset(2025, 8, 11, 3, 0, 0, TimeSpan.FromHours(9)), next.GetProperty("local").GetDateTimeOffset());
        Assert.Equal(TimeSpan.FromHours(9), next.GetProperty("local").GetDateTimeOffset().Offset);
        Assert.Equal(new DateTimeOffset(2025, 8, 10, 18, 0, 0, TimeSpan.Zero), next.GetProperty("utc").GetDateTimeOffset());

        // Each request has its row, the invalid ones too (a reason that is not a string among them).
        var audit = await AuditAsync(client);
        Assert.Equal([
            ("resume", "refused"), ("resume", "accepted"), ("pause", "refused"), ("pause", "accepted"), ("pause", "invalid"), ("pause", "invalid"),
            ("pause", "invalid"), ("pause", "invalid"), ("pause", "invalid"),
        ], audit.EnumerateArray().Select(a => (a.GetProperty("action").GetString(), a.GetProperty("outcome").GetString())));
        Assert.Equal("there is no job 'no-such-job'; the jobs are asset-refresh (some users only: asset-refresh-subset), user-dormancy, history-maintenance",
            audit[4].GetProperty("detail").GetString());
        Assert.False(audit[4].TryGetProperty("jobName", out var unknownJobName) && unknownJobName.ValueKind != JsonValueKind.Null);
        Assert.All(audit.EnumerateArray(), a => Assert.Equal("admin", a.GetProperty("tokenName").GetString()));
        Assert.Equal("maintenance over", audit[1].GetProperty("reason").GetString());
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Parallel_pauses_and_resumes_leave_the_trigger_as_the_pause_row_says_every_round(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["AssetRefresh:Enabled"] = "true" });
        var client = app.CreateClient();
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var schedule = $"/internal/batch/{AssetRefreshJob.Name}/schedule";
        // SQLite serialises its writers by sleeping on a busy file, so it gets fewer at once to stay quick.
        const int Rounds = 40;
        var requests = provider == DatabaseProvider.Sqlite ? 4 : 16;

        var mismatches = new List<string>();
        for (var round = 1; round <= Rounds; round++)
        {
            // Half pause, half resume, all at once: whichever lands last decides, and the trigger must agree with the row it left.
            var answers = await Task.WhenAll(Enumerable.Range(0, requests).Select(i =>
                client.PostAsJsonAsync($"{schedule}/{(i % 2 == 0 ? "pause" : "resume")}", new { reason = $"round {round}" })));
            Assert.All(answers, a => Assert.Contains(a.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.Conflict }));
            bool paused;
            OperatorActionKind? lastTaken;
            await using (var db = database.CreateContext())
            {
                paused = await db.SchedulePauses.AnyAsync(p => p.JobName == AssetRefreshJob.Name);
                // The audit trail tells the same story: its newest pause or resume that was taken is the row's state.
                lastTaken = await db.OperatorActions.Where(a => a.Outcome == OperatorActionOutcome.Accepted)
                    .OrderByDescending(a => a.Id).Select(a => (OperatorActionKind?)a.Action).FirstOrDefaultAsync();
            }
            var state = await scheduler.GetTriggerState(AssetRefreshJob.Definition.CronKey);
            if ((state == TriggerState.Paused) != paused)
                mismatches.Add($"round {round}: pause row {(paused ? "present" : "absent")}, trigger {state}");
            if (lastTaken is { } taken && (taken == OperatorActionKind.Pause) != paused)
                mismatches.Add($"round {round}: pause row {(paused ? "present" : "absent")}, newest audited {taken}");
        }

        Assert.Empty(mismatches);
        await using (var db = database.CreateContext())
            Assert.Equal(Rounds * requests, await db.OperatorActions.CountAsync());
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_cancel_the_run_ends_before_it_sees_is_audited_too_late(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        // No lease renewal within the test: the run only learns of a cancel at a renewal, so it cannot see this one.
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Batch:LeaseTimeout"] = "01:00:00", ["Batch:ProgressInterval"] = "00:10:00",
            // The held call waits for the test, not for a timeout of its own.
            ["Extension:AttemptTimeout"] = "00:01:00", ["Extension:UserDeadline"] = "00:02:00",
        });
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(3, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(FakeExtensionServer.Fault.Block, users[2]);

        var running = client.PostAsync($"/internal/batch/{AssetRefreshJob.Name}/runs?day={Day:yyyy-MM-dd}", null);
        await app.Extension.BlockedCallArrived.WaitAsync(Patience);
        long runId;
        await using (var db = database.CreateContext())
            runId = (await db.BatchRuns.SingleAsync(r => r.Day == Day)).Id;
        var cancel = await client.PostAsJsonAsync($"/internal/batch/runs/{runId}/cancel", new { reason = "late second thoughts" });
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        // The cancel stays pending while the run works.
        var pending = (await AuditAsync(client))[0];
        Assert.Equal(("cancel", "accepted"), (pending.GetProperty("action").GetString(), pending.GetProperty("outcome").GetString()));

        app.Extension.ReleaseBlocked();
        var result = await RefreshRuns.ResultOfAsync(await running);

        Assert.Equal((BatchRunStatus.Completed, 3), (result.Status, result.Success));
        var audit = await AuditAsync(client);
        Assert.Equal([("cancel", "too_late"), ("trigger", "accepted")],
            audit.EnumerateArray().Select(a => (a.GetProperty("action").GetString(), a.GetProperty("outcome").GetString())));
        Assert.Equal(runId, audit[0].GetProperty("runId").GetInt64());
        Assert.StartsWith($"too late: run {runId} ended completed before it saw the cancel", audit[0].GetProperty("detail").GetString());
        // A cancel asked after the end is refused outright, and nothing settles it later.
        var after = await client.PostAsJsonAsync($"/internal/batch/runs/{runId}/cancel", new { reason = "after the end" });
        Assert.Equal(HttpStatusCode.Conflict, after.StatusCode);
        Assert.Equal("refused", (await AuditAsync(client))[0].GetProperty("outcome").GetString());
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Reconciliation_resumes_a_trigger_paused_without_a_row_and_pauses_one_whose_row_it_ignored(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:Enabled"] = "true", ["UserDormancy:Enabled"] = "true",
        });
        var client = app.CreateClient();
        await StartUpThroughAsync(app);
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var dormancy = Batch.User.UserDormancyJob.Definition;

        // Behind the API's back: the refresh's trigger paused with no row; a dormancy row written while its trigger runs.
        await scheduler.PauseTrigger(AssetRefreshJob.Definition.CronKey);
        await using (var db = database.CreateContext())
        {
            db.SchedulePauses.Add(new SchedulePause { JobName = dormancy.Name, PausedAt = CoreServerApp.DefaultNow, Reason = "written by hand" });
            await db.SaveChangesAsync();
        }
        Assert.Equal((TriggerState.Paused, TriggerState.Normal),
            (PausedOrNot(await scheduler.GetTriggerState(AssetRefreshJob.Definition.CronKey)), PausedOrNot(await scheduler.GetTriggerState(dormancy.CronKey))));

        await using (var scope = app.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<SchedulePauses>().ReconcileAsync([AssetRefreshJob.Definition, dormancy], CancellationToken.None);

        Assert.Equal((TriggerState.Normal, TriggerState.Paused),
            (PausedOrNot(await scheduler.GetTriggerState(AssetRefreshJob.Definition.CronKey)), PausedOrNot(await scheduler.GetTriggerState(dormancy.CronKey))));
        Assert.Equal(2, app.Logs.Entries.Count(e => e.Message.Contains("did not match its pause row")));
        // The API agrees with the trigger again: the refresh is not paused (and can be), the dormancy is (and can be resumed).
        var pause = await client.PostAsJsonAsync($"/internal/batch/{AssetRefreshJob.Name}/schedule/pause", new { reason = "now for real" });
        var resume = await client.PostAsJsonAsync($"/internal/batch/{dormancy.Name}/schedule/resume", new { reason = "hand-written pause over" });
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (pause.StatusCode, resume.StatusCode));
        Assert.Equal((TriggerState.Paused, TriggerState.Normal),
            (PausedOrNot(await scheduler.GetTriggerState(AssetRefreshJob.Definition.CronKey)), PausedOrNot(await scheduler.GetTriggerState(dormancy.CronKey))));
    }

    [Fact]
    public async Task A_clustered_start_sets_the_stored_trigger_states_to_follow_the_pause_rows()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        var settings = new Dictionary<string, string?>
        {
            ["Batch:Clustered"] = "true", ["AssetRefresh:Enabled"] = "true", ["UserDormancy:Enabled"] = "true",
        };
        var dormancy = Batch.User.UserDormancyJob.Definition;
        await using (var first = new CoreServerApp(database, settings))
        {
            first.CreateClient();
            await StartUpThroughAsync(first);
            // Behind the API's back, in Quartz's shared store and in the rows: both outlive this process.
            var scheduler = await first.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
            await scheduler.PauseTrigger(AssetRefreshJob.Definition.CronKey);
            await using var db = database.CreateContext();
            db.SchedulePauses.Add(new SchedulePause { JobName = dormancy.Name, PausedAt = CoreServerApp.DefaultNow, Reason = "written by hand" });
            await db.SaveChangesAsync();
        }

        await using var second = new CoreServerApp(database, settings);
        second.CreateClient();
        await StartUpThroughAsync(second);
        var restarted = await second.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        Assert.Equal((TriggerState.Normal, TriggerState.Paused),
            (PausedOrNot(await restarted.GetTriggerState(AssetRefreshJob.Definition.CronKey)), PausedOrNot(await restarted.GetTriggerState(dormancy.CronKey))));
    }

    /// <summary>
    /// Whether a trigger is paused, whatever its job is doing: in the clustered store a trigger that is not
    /// paused reads Blocked while its job executes (the start-up catch-up's fire may still be running).
    /// </summary>
    private static TriggerState PausedOrNot(TriggerState state) => state == TriggerState.Blocked ? TriggerState.Normal : state;

    /// <summary>Waits until start-up has matched the triggers to the pause rows and fired its catch-up.</summary>
    private static async Task StartUpThroughAsync(CoreServerApp app) =>
        await app.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<StartupCatchUp>().Single().ExecuteTask!.WaitAsync(Patience);

    /// <summary>
    /// A body that cannot be read as an action request (broken JSON, another shape, another media
    /// type) is an invalid request like a missing reason: a 400 problem that says so, with its audit
    /// row. Before, the framework answered 400 or 415 before the action ran, and the trail kept nothing.
    /// </summary>
    [Theory]
    [InlineData("application/json", "{\"reason\":")]
    [InlineData("application/json", "{\"reason\":5}")]
    [InlineData("application/json", "[\"hold\"]")]
    [InlineData("text/plain", "hold")]
    [InlineData("application/x-www-form-urlencoded", "reason=hold")]
    public async Task An_action_whose_body_cannot_be_read_is_a_400_problem_audited_invalid(string contentType, string body)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        string[] paths =
        [
            $"/internal/batch/{AssetRefreshJob.Name}/schedule/pause", $"/internal/batch/{AssetRefreshJob.Name}/schedule/resume",
            "/internal/batch/runs/1/cancel",
        ];

        var auditIds = new List<long>();
        foreach (var path in paths)
        {
            var content = new StringContent(body, Encoding.UTF8);
            content.Headers.Remove("Content-Type");
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            var response = await client.PostAsync(path, content);
            var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "{\"reason\": \"…\"}");
            Assert.DoesNotContain("DontGoBack", problem.Detail);
            auditIds.Add(((JsonElement)problem.Extensions["auditId"]!).GetInt64());
        }

        await using var db = database.CreateContext();
        var rows = await db.OperatorActions.AsNoTracking().OrderBy(a => a.Id).ToListAsync();
        Assert.Equal(auditIds, rows.Select(r => r.Id));
        Assert.Equal([OperatorActionKind.Pause, OperatorActionKind.Resume, OperatorActionKind.Cancel], rows.Select(r => r.Action));
        Assert.All(rows, r => Assert.Equal(OperatorActionOutcome.Invalid, r.Outcome));
        Assert.Equal(0, await db.SchedulePauses.CountAsync());
    }

    [Fact]
    public async Task A_pause_outlives_a_restart()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var settings = new Dictionary<string, string?> { ["AssetRefresh:Enabled"] = "true" };
        await using (var first = new CoreServerApp(database, settings))
        {
            var pause = await first.CreateClient().PostAsJsonAsync($"/internal/batch/{AssetRefreshJob.Name}/schedule/pause", new { reason = "hold" });
            Assert.Equal(HttpStatusCode.OK, pause.StatusCode);
        }
        await using var second = new CoreServerApp(database, settings);
        second.CreateClient();
        var scheduler = await second.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();

        // The start-up catch-up re-applies the pause before it fires, and its fire then finds the pause.
        await second.Logs.WaitForAsync(e => e.Message.Contains("not run: its schedule is paused (hold)"), Patience);
        Assert.Equal(TriggerState.Paused, await scheduler.GetTriggerState(AssetRefreshJob.Definition.CronKey));
    }
}
