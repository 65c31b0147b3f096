using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using DontGoBack.Chaos.Oracle;
using Npgsql;

namespace DontGoBack.Chaos;

/// <param name="AdminConnection">The throwaway cluster's connection string (its `postgres` database); the campaign makes its own database on it.</param>
/// <param name="PostgresScript">scripts/postgres.sh, to stop and start the cluster as a fault.</param>
/// <param name="DaySeconds">How long each day lasts at least, in real seconds, from its replicas' start.</param>
public sealed record CampaignSettings(
    int Seed, int Days, int Users, int Replicas, string AdminConnection, int PostgresPort, string PostgresScript,
    string CoreDll, string SimulatorDll, string WorkDirectory, double DaySeconds, DateOnly FirstDay);

/// <summary>
/// One chaos campaign (issue 28): R clustered replicas and the stand-in as processes on one PostgreSQL, D days each fired by the
/// replicas' own cron on a clock the campaign sets (LoadTest:ClockOffset), with adjustments streaming, operators acting and the
/// seed's faults landing meanwhile; then one retry-failed pass per day and the independent oracle.
/// </summary>
public sealed class Campaign(CampaignSettings settings)
{
    private const string Job = "asset-refresh";
    private const string Database = "dontgoback_chaos";
    private const string ClientSecret = "chaos-core-secret";
    private static readonly TimeSpan Seoul = TimeSpan.FromHours(9);
    // The replicas start twenty seconds before the 03:00 fire (three starting at once take ten seconds on two cores), so a slow start still finds the fire ahead or catches it up.
    private static readonly TimeOnly DayStartsAt = new(2, 59, 40);
    private static readonly TimeOnly Fire = new(3, 0);
    private const double LeaseSeconds = 10;
    private const int MaxRetryAttempts = 3;
    // How long a process the campaign needs may take to answer: seconds on a quiet machine, but minutes on a loaded one
    // (three checkouts' builds and campaigns on two cores were seen to take over a minute), where giving up crashed the driver.
    private static readonly TimeSpan StartAllowance = TimeSpan.FromMinutes(5);

    private readonly string _connection = new NpgsqlConnectionStringBuilder(settings.AdminConnection)
    {
        Database = Database, ApplicationName = "chaos-driver", Timeout = 5, CommandTimeout = 30,
    }.ConnectionString;
    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(5) }) { Timeout = TimeSpan.FromSeconds(10) };
    // The day must be through this long after its fire: the day's window less the start and the last faults' room
    // (30 s in a 55-s day), so a day that meets no long outage finishes ahead of it and one that does is late.
    private readonly TimeOnly CompleteBy = Fire.Add(TimeSpan.FromSeconds(Math.Max(10, settings.DaySeconds - 25)));
    private readonly ConcurrentDictionary<string, Adjustment> _adjustments = new();
    private readonly ConcurrentDictionary<string, int> _tally = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private string _simulatorUrl = "";
    private string _callLog = "";
    private long[] _activeUsers = [];

    private sealed record Adjustment(long UserId, string Key, long Amount)
    {
        public volatile bool Acknowledged;
        public volatile bool Settled;
    }

    /// <returns>The process's exit code: 0 when the oracle found nothing.</returns>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(settings.WorkDirectory);
        var deadlineSeconds = (CompleteBy.ToTimeSpan() - DayStartsAt.ToTimeSpan()).TotalSeconds;
        var schedule = FaultSchedule.Draw(settings.Seed, settings.Days, settings.Replicas, settings.DaySeconds, LeaseSeconds, deadlineSeconds);
        Say($"Campaign seed {settings.Seed}: {settings.Days} days from {settings.FirstDay:yyyy-MM-dd} × {settings.Users:N0} users × {settings.Replicas} replicas; timeline:");
        foreach (var fault in schedule)
            Say("  " + fault);

        await CreateDatabaseAsync(cancellationToken);
        _callLog = Path.Combine(settings.WorkDirectory, "extension-calls.csv");
        foreach (var old in Directory.EnumerateFiles(settings.WorkDirectory, "*.log").Append(_callLog))
            File.Delete(old);
        using var simulator = StartSimulator();
        // A stand-in that stopped will never answer: say so at once rather than after the whole allowance.
        await WaitForAsync(async () => simulator.HasExited
                ? throw new InvalidOperationException($"the stand-in exited before it answered; see {settings.WorkDirectory}/stand-in.log")
                : (await _http.GetAsync(_simulatorUrl + "/msa/ext/stats", cancellationToken)).IsSuccessStatusCode,
            StartAllowance, "the stand-in to answer");

        var seedExit = await CliAsync(["seed", "--users", settings.Users.ToString(CultureInfo.InvariantCulture), "--active-percent", "85"],
            OffsetTo(settings.FirstDay, new TimeOnly(0, 30)), "seed", cancellationToken);
        if (seedExit != 0)
            throw new InvalidOperationException($"seed exited {seedExit}; see {settings.WorkDirectory}/seed.log");
        _activeUsers = await ActiveUsersAsync(cancellationToken);
        Say($"Seeded {settings.Users:N0} users, {_activeUsers.Length:N0} ACTIVE, opening on {settings.FirstDay.AddDays(-1):yyyy-MM-dd}");

        var started = _clock.Elapsed;
        for (var day = 0; day < settings.Days; day++)
            await RunDayAsync(day, schedule.Where(f => f.Day == day).ToList(), cancellationToken);
        var daysTook = _clock.Elapsed - started;

        // The final pass: every fault off, each day's unfinished users once more, oldest first; then replicas again long
        // enough for a late day's alert to resolve.
        await SetExtensionFaultAsync("none", 0, cancellationToken);
        await RetryPendingAdjustmentsAsync(cancellationToken);
        var lastDay = settings.FirstDay.AddDays(settings.Days - 1);
        var finalClock = OffsetTo(lastDay, new TimeOnly(12, 0));
        for (var day = settings.FirstDay; day <= lastDay; day = day.AddDays(1))
        {
            var status = await RunStatusAsync(day, cancellationToken);
            var exit = status is null
                ? await CliAsync(["refresh", "--day", day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)], finalClock, "final-pass", cancellationToken)
                : await CliAsync(["retry-failed", "--day", day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)], finalClock, "final-pass", cancellationToken);
            Say($"Final pass {day:yyyy-MM-dd} (was {status ?? "not run"}): exit {exit}, now {await RunStatusAsync(day, cancellationToken)}");
        }
        await SettleAlertsAsync(finalClock, cancellationToken);

        var verifyExit = await CliAsync(["verify"], finalClock, "verify", cancellationToken);
        await _http.PostAsync(_simulatorUrl + "/chaos/flush", null, cancellationToken);
        await StopAsync(simulator);
        var report = await ChaosOracle.CheckAsync(_connection, new OracleInput(
            settings.FirstDay, lastDay, ReadCallLog(), _adjustments.Values.Select(a => new SentAdjustment(a.UserId, a.Key, a.Amount, a.Acknowledged)).ToList(),
            // A pass over a user: the first try and its retries, once more after a refreshed token.
            CallsPerPass: 2 * (MaxRetryAttempts + 1),
            Enumerable.Range(0, settings.Days).ToDictionary(d => settings.FirstDay.AddDays(d), d => Instant(settings.FirstDay.AddDays(d), CompleteBy)),
            Job), cancellationToken);

        await PrintSummaryAsync(schedule, report, verifyExit, daysTook, cancellationToken);
        return report.Passed && verifyExit == 0 ? 0 : 1;
    }

    private async Task RunDayAsync(int dayNo, IReadOnlyList<FaultEvent> faults, CancellationToken cancellationToken)
    {
        var day = settings.FirstDay.AddDays(dayNo);
        var offset = OffsetTo(day, DayStartsAt);
        var skew = faults.FirstOrDefault(f => f.Kind == FaultKind.ClockSkew);
        var replicas = Enumerable.Range(0, settings.Replicas)
            .Select(n => new Replica(n, FreePort(), skew?.Replica == n ? offset + TimeSpan.FromMinutes(skew.Amount) : offset))
            .ToList();
        Say($"Day {dayNo + 1} ({day:yyyy-MM-dd}): {settings.Replicas} replicas start at {DayStartsAt:HH:mm:ss} Seoul on their clock");
        foreach (var replica in replicas)
        {
            await File.AppendAllTextAsync(Path.Combine(settings.WorkDirectory, $"node-{replica.Number + 1}.log"),
                $"=== day {dayNo + 1} ({day:yyyy-MM-dd}), clock offset {replica.Offset:c}{Environment.NewLine}", cancellationToken);
            replica.Process = StartReplica(replica);
        }
        var dayStart = _clock.Elapsed;
        using var stopTraffic = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var traffic = Task.Run(() => StreamAdjustmentsAsync(replicas, dayNo, stopTraffic.Token), CancellationToken.None);
        var injections = faults.Where(f => f.Kind != FaultKind.ClockSkew)
            .Select(f => Task.Run(() => InjectAsync(f, day, replicas, dayStart, cancellationToken), CancellationToken.None)).ToList();

        // The day lasts its window and until every fault of it is over; it ends sooner than that only never.
        var minimum = TimeSpan.FromSeconds(settings.DaySeconds);
        await Task.WhenAll(injections);
        while (_clock.Elapsed - dayStart < minimum)
        {
            if (await RunStatusAsync(day, cancellationToken) == "Completed" && _clock.Elapsed - dayStart > TimeSpan.FromSeconds(30))
                break;
            await Task.Delay(500, cancellationToken);
        }
        await stopTraffic.CancelAsync();
        await traffic;
        foreach (var replica in replicas)
        {
            if (replica.Process is { } process)
                await StopAsync(process);
        }
        await DumpStateAsync($"after day {dayNo + 1} ({day:yyyy-MM-dd})", cancellationToken);
        Say($"Day {dayNo + 1} ({day:yyyy-MM-dd}) ends after {(_clock.Elapsed - dayStart).TotalSeconds:0} s: run {await RunStatusAsync(day, cancellationToken) ?? "not started"}");
    }

    private async Task InjectAsync(FaultEvent fault, DateOnly day, IReadOnlyList<Replica> replicas, TimeSpan dayStart, CancellationToken cancellationToken)
    {
        var due = dayStart + TimeSpan.FromSeconds(fault.At) - _clock.Elapsed;
        if (due > TimeSpan.Zero)
            await Task.Delay(due, cancellationToken);
        Say($"  {fault}");
        _tally.AddOrUpdate(fault.Kind.ToString(), 1, (_, n) => n + 1);
        try
        {
            switch (fault.Kind)
            {
                case FaultKind.KillReplica:
                {
                    var replica = replicas[fault.Replica];
                    replica.Process?.Kill();
                    await Task.Delay(TimeSpan.FromSeconds(fault.For), cancellationToken);
                    replica.Process?.Dispose();
                    replica.Process = StartReplica(replica);
                    break;
                }
                case FaultKind.StopReplica:
                    replicas[fault.Replica].Process?.Signal(ChildProcess.SigStop);
                    await Task.Delay(TimeSpan.FromSeconds(fault.For), cancellationToken);
                    replicas[fault.Replica].Process?.Signal(ChildProcess.SigCont);
                    break;
                case FaultKind.PostgresRestartFast:
                case FaultKind.PostgresRestartImmediate:
                    await StopPostgresAsync(immediate: fault.Kind == FaultKind.PostgresRestartImmediate, cancellationToken);
                    await Task.Delay(TimeSpan.FromSeconds(fault.For), cancellationToken);
                    await ShellAsync(settings.PostgresScript, ["resume", settings.PostgresPort.ToString(CultureInfo.InvariantCulture)], cancellationToken);
                    break;
                case FaultKind.TerminateConnections:
                    await WithDatabaseAsync(async connection =>
                    {
                        await using var command = new NpgsqlCommand("""
                            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                             WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> 'chaos-driver'
                            """, connection);
                        Say($"    terminated {await command.ExecuteScalarAsync(cancellationToken)} connections");
                    }, cancellationToken);
                    break;
                case FaultKind.ExtensionServerErrors:
                case FaultKind.ExtensionLatency:
                case FaultKind.ExtensionResets:
                case FaultKind.ExtensionThrottled:
                case FaultKind.AuthOutage:
                    await SetExtensionFaultAsync(fault.Kind switch
                    {
                        FaultKind.ExtensionServerErrors => "ServerErrors",
                        FaultKind.ExtensionLatency => "Latency",
                        FaultKind.ExtensionResets => "ConnectionResets",
                        FaultKind.ExtensionThrottled => "Throttled",
                        _ => "AuthOutage",
                    }, fault.Amount, cancellationToken);
                    await Task.Delay(TimeSpan.FromSeconds(fault.For), cancellationToken);
                    await SetExtensionFaultAsync("None", 0, cancellationToken);
                    break;
                case FaultKind.CancelRun:
                {
                    var running = await WithDatabaseAsync(async connection =>
                    {
                        await using var command = new NpgsqlCommand("SELECT id FROM batch_runs WHERE job_name = @job AND status = 'Running' ORDER BY day LIMIT 1", connection);
                        command.Parameters.AddWithValue("job", Job);
                        return await command.ExecuteScalarAsync(cancellationToken) as long?;
                    }, cancellationToken);
                    Say(running is { } id
                        ? $"    cancel run {id}: {await OperatorAsync(replicas, $"/internal/batch/runs/{id}/cancel", cancellationToken)}"
                        : "    no run running to cancel");
                    break;
                }
                case FaultKind.PauseSchedule:
                    Say($"    pause: {await OperatorAsync(replicas, $"/internal/batch/{Job}/schedule/pause", cancellationToken)}");
                    await Task.Delay(TimeSpan.FromSeconds(fault.For), cancellationToken);
                    // Resumed however the pause went: a pause left behind would keep every later day from firing.
                    for (var tries = 0; tries < 20; tries++)
                    {
                        var resumed = await OperatorAsync(replicas, $"/internal/batch/{Job}/schedule/resume", cancellationToken);
                        if (resumed is HttpStatusCode.OK or HttpStatusCode.Conflict)
                        {
                            Say($"    resume: {resumed}");
                            break;
                        }
                        await Task.Delay(1_000, cancellationToken);
                    }
                    break;
                case FaultKind.RunAgain:
                    Say($"    refresh --day {day.AddDays(-1):yyyy-MM-dd}: exit {await CliAsync(["refresh", "--day", day.AddDays(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)], replicas[0].Offset, "operator", cancellationToken)}");
                    break;
                case FaultKind.LateRetry:
                    for (var earlier = settings.FirstDay; earlier < day; earlier = earlier.AddDays(1))
                    {
                        if (await RunStatusAsync(earlier, cancellationToken) is { } status && status != "Completed")
                            Say($"    retry-failed --day {earlier:yyyy-MM-dd} (was {status}): exit {await CliAsync(["retry-failed", "--day", earlier.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)], replicas[0].Offset, "operator", cancellationToken)}");
                    }
                    break;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Say($"    {fault.Kind} could not be carried out: {e.Message}");
        }
    }

    /// <summary>Adjustments through the replicas' API, a few a second, each under its own key; one in ten replays an acknowledged one, and an unanswered one is sent again under its key.</summary>
    private async Task StreamAdjustmentsAsync(IReadOnlyList<Replica> replicas, int dayNo, CancellationToken cancellationToken)
    {
        // Its own stream of the seed, so the traffic does not move the fault schedule.
        var random = new Random(HashCode.Combine(settings.Seed, dayNo, "adjustments"));
        var n = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(random.Next(20, 120), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var unsettled = _adjustments.Values.FirstOrDefault(a => !a.Settled);
            Adjustment adjustment;
            if (unsettled is not null && random.NextDouble() < 0.5)
                adjustment = unsettled;
            else if (random.NextDouble() < 0.1 && _adjustments.Values.FirstOrDefault(a => a.Acknowledged && random.NextDouble() < 0.05) is { } replay)
                adjustment = replay;
            else
            {
                var key = $"chaos-{settings.Seed}-{dayNo}-{n++}";
                adjustment = _adjustments[key] = new Adjustment(_activeUsers[random.Next(_activeUsers.Length)], key, random.Next(-5_000, 20_001));
            }
            var status = await SendAdjustmentAsync(replicas[random.Next(replicas.Count)], adjustment, CancellationToken.None);
            Count($"adjustment {(status is { } s ? ((int)s).ToString(CultureInfo.InvariantCulture) : "no answer")}");
        }
    }

    private async Task<HttpStatusCode?> SendAdjustmentAsync(Replica replica, Adjustment adjustment, CancellationToken cancellationToken)
    {
        try
        {
            using var answer = await _http.PostAsJsonAsync($"{replica.Url}/internal/users/{adjustment.UserId}/asset-adjustments",
                new { amount = adjustment.Amount, reason = $"chaos [{adjustment.Key}]", idempotencyKey = adjustment.Key }, cancellationToken);
            if (answer.StatusCode == HttpStatusCode.OK)
                adjustment.Acknowledged = adjustment.Settled = true;
            // A refusal the server means (a balance out of range, say) settles it; a 5xx or no answer leaves it to send again.
            else if ((int)answer.StatusCode is >= 400 and < 500 and not 408 and not 429)
                adjustment.Settled = true;
            return answer.StatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>Unanswered adjustments once more, on a replica of their own, so each ends acknowledged or refused.</summary>
    private async Task RetryPendingAdjustmentsAsync(CancellationToken cancellationToken)
    {
        if (_adjustments.Values.All(a => a.Settled))
            return;
        var replica = new Replica(0, FreePort(), OffsetTo(settings.FirstDay.AddDays(settings.Days - 1), new TimeOnly(12, 0)));
        using var process = StartReplica(replica, clustered: false);
        await WaitForAsync(async () => (await _http.GetAsync(replica.Url + "/health/live", cancellationToken)).IsSuccessStatusCode, StartAllowance, "a replica for the pending adjustments");
        foreach (var adjustment in _adjustments.Values.Where(a => !a.Settled))
        {
            for (var tries = 0; tries < 5 && !adjustment.Settled; tries++)
                await SendAdjustmentAsync(replica, adjustment, cancellationToken);
        }
        await StopAsync(process);
    }

    /// <summary>Replicas on the last day's noon until every alert raised has resolved (or a minute has passed): a late day's resolution needs a node that watches.</summary>
    private async Task SettleAlertsAsync(TimeSpan offset, CancellationToken cancellationToken)
    {
        var replicas = Enumerable.Range(0, settings.Replicas).Select(n => new Replica(n, FreePort(), offset)).ToList();
        foreach (var replica in replicas)
            replica.Process = StartReplica(replica);
        // The minute counts from when they answer: replicas slow to start have not watched yet.
        await WaitForAsync(async () => (await _http.GetAsync(replicas[0].Url + "/health/live", cancellationToken)).IsSuccessStatusCode,
            StartAllowance, "the replicas that settle the alerts");
        var until = _clock.Elapsed + TimeSpan.FromSeconds(60);
        var settled = _clock.Elapsed + TimeSpan.FromSeconds(10);
        while (_clock.Elapsed < until)
        {
            var open = await WithDatabaseAsync(async connection =>
            {
                await using var command = new NpgsqlCommand("""
                    SELECT count(*) FROM batch_alerts r WHERE r.kind = 'Raised'
                       AND NOT EXISTS (SELECT 1 FROM batch_alerts x WHERE x.job_name = r.job_name AND x.day = r.day AND x.condition = r.condition AND x.kind = 'Resolved')
                    """, connection);
                return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
            }, cancellationToken);
            if (open == 0 && _clock.Elapsed > settled)
                break;
            await Task.Delay(1_000, cancellationToken);
        }
        foreach (var replica in replicas)
            await StopAsync(replica.Process!);
    }

    private async Task PrintSummaryAsync(IReadOnlyList<FaultEvent> schedule, OracleReport report, int verifyExit, TimeSpan daysTook, CancellationToken cancellationToken)
    {
        var lines = new List<string>
        {
            $"## Chaos campaign: seed {settings.Seed}, {settings.Days} days × {settings.Users:N0} users × {settings.Replicas} replicas",
            "",
            $"{_activeUsers.Length:N0} ACTIVE users; the days took {daysTook.TotalSeconds:0} s, the whole campaign {_clock.Elapsed.TotalSeconds:0} s.",
            "",
            "| fault or action | injected |",
            "|---|---:|",
        };
        lines.AddRange(schedule.GroupBy(f => f.Kind).OrderBy(g => g.Key).Select(g => $"| {g.Key} | {g.Count()} |"));
        lines.Add("");
        lines.Add($"Adjustments: {_adjustments.Count:N0} keys, {_adjustments.Values.Count(a => a.Acknowledged):N0} acknowledged; answers: "
                  + string.Join(", ", _tally.Where(t => t.Key.StartsWith("adjustment", StringComparison.Ordinal)).OrderBy(t => t.Key).Select(t => $"{t.Key[11..]} × {t.Value:N0}")));
        lines.Add("");
        // A day's finish is its first attempt that went through (completed, with or without failures left for a later pass).
        lines.Add("| day | run now | attempts | first through (Seoul) | ahead of the deadline |");
        lines.Add("|---|---|---:|---|---:|");
        await WithDatabaseAsync(async connection =>
        {
            await using var command = new NpgsqlCommand("""
                SELECT r.day, r.status, r.attempts,
                       (SELECT min(a.finished_at) FROM batch_run_attempts a
                         WHERE a.run_id = r.id AND a.status IN ('Completed', 'CompletedWithFailures', 'NothingToDo'))
                  FROM batch_runs r WHERE r.job_name = @job ORDER BY r.day
                """, connection);
            command.Parameters.AddWithValue("job", Job);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var day = reader.GetFieldValue<DateOnly>(0);
                var finished = reader.IsDBNull(3) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(3);
                var ahead = finished is { } f ? Instant(day, CompleteBy) - f : (TimeSpan?)null;
                lines.Add($"| {day:yyyy-MM-dd} | {reader.GetString(1)} | {reader.GetInt32(2)} | {finished?.ToOffset(Seoul):yyyy-MM-dd HH:mm:ss} | {(ahead is { } a ? FormatAhead(a) : "never")} |");
            }
            return 0;
        }, cancellationToken);
        lines.Add("");
        lines.Add(report.ToTable());
        lines.Add($"| verify (the core server's own check) | the chain rule | {(verifyExit == 0 ? "0" : $"exit {verifyExit}")} | see verify.log |");
        lines.Add("");
        lines.Add(report.Passed && verifyExit == 0 ? "The oracle found nothing." : "THE ORACLE FOUND SOMETHING: see the table and the logs in " + settings.WorkDirectory);
        foreach (var line in lines)
            Console.WriteLine(line);
    }

    /// <summary>Seconds ahead of the deadline, or how late in seconds, minutes or days.</summary>
    private static string FormatAhead(TimeSpan ahead) => ahead >= TimeSpan.Zero
        ? $"{ahead.TotalSeconds:0} s"
        : -ahead < TimeSpan.FromMinutes(2) ? $"{-ahead.TotalSeconds:0} s late"
        : -ahead < TimeSpan.FromHours(2) ? $"{-ahead.TotalMinutes:0} min late"
        : $"{-ahead.TotalDays:0.0} days late";

    private sealed class Replica(int number, int port, TimeSpan offset)
    {
        public int Number => number;
        public string Url => $"http://127.0.0.1:{port}";
        public TimeSpan Offset => offset;
        public ChildProcess? Process { get; set; }
    }

    /// <summary>The engine's own records as they stand, appended to state.log: what the logs of a finding are read against.</summary>
    private async Task DumpStateAsync(string when, CancellationToken cancellationToken)
    {
        var lines = new List<string> { $"=== {when}" };
        await WithDatabaseAsync(async connection =>
        {
            foreach (var query in new[]
                     {
                         "SELECT id, day, status, attempts, started_at, finished_at, heartbeat_at, lease_owner, nodes, total, success, skipped, failed, cancel_requested_at, error FROM batch_runs ORDER BY day",
                         "SELECT run_id, attempt, status, node, started_at, finished_at, expected, total, success, skipped, failed, error FROM batch_run_attempts ORDER BY run_id, attempt",
                         "SELECT run_id, attempt, partition_no, status, node, expected, total, success, skipped, failed FROM batch_run_partitions ORDER BY run_id, attempt, partition_no",
                         "SELECT job_name, day, condition, kind, created_at, node FROM batch_alerts ORDER BY id",
                         "SELECT trigger_name, trigger_state, next_fire_time, prev_fire_time FROM qrtz_triggers ORDER BY trigger_name",
                     })
            {
                lines.Add($"-- {query}");
                try
                {
                    await using var command = new NpgsqlCommand(query, connection);
                    await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                    while (await reader.ReadAsync(cancellationToken))
                        lines.Add(string.Join(" | ", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))));
                }
                catch (PostgresException e)
                {
                    lines.Add($"   ({e.MessageText})");
                }
            }
            return 0;
        }, cancellationToken);
        await File.AppendAllLinesAsync(Path.Combine(settings.WorkDirectory, "state.log"), lines, cancellationToken);
    }

    private ChildProcess StartReplica(Replica replica, bool clustered = true)
    {
        var environment = CoreSettings(replica.Offset);
        environment["Urls"] = replica.Url;
        environment["Batch__Clustered"] = clustered ? "true" : "false";
        environment["Batch__NodeName"] = $"node-{replica.Number + 1}";
        if (!clustered)
            environment["AssetRefresh__Enabled"] = "false";
        return ChildProcess.Start(settings.CoreDll, [], environment, Path.Combine(settings.WorkDirectory, $"node-{replica.Number + 1}.log"));
    }

    private Dictionary<string, string> CoreSettings(TimeSpan offset) => new()
    {
        ["Database__Provider"] = "Postgres",
        ["ConnectionStrings__DontGoBack"] = new NpgsqlConnectionStringBuilder(_connection) { ApplicationName = "dontgoback" }.ConnectionString,
        ["LoadTest__ClockOffset"] = offset.ToString("c", CultureInfo.InvariantCulture),
        ["Batch__PartitionSize"] = "500",
        ["Batch__ClusterCheckinInterval"] = "00:00:01",
        ["Batch__LeaseTimeout"] = TimeSpan.FromSeconds(LeaseSeconds).ToString("c", CultureInfo.InvariantCulture),
        ["Batch__WatchInterval"] = "00:00:01",
        ["Batch__ProgressInterval"] = "00:00:01",
        ["AssetRefresh__Cron"] = "0 0 3 * * ?",
        ["AssetRefresh__CompleteBy"] = CompleteBy.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
        ["AssetRefresh__MaxConcurrency"] = "16",
        ["UserDormancy__Enabled"] = "false",
        ["Extension__BaseUrl"] = _simulatorUrl,
        ["Extension__BulkSize"] = "0",
        ["Extension__MaxRetryAttempts"] = MaxRetryAttempts.ToString(CultureInfo.InvariantCulture),
        ["Auth__BaseUrl"] = _simulatorUrl,
        ["Auth__ClientSecret"] = ClientSecret,
        ["DemoData__UsersOnEmptyDatabase"] = "0",
        ["Alerts__PollInterval"] = "00:00:01",
        ["Logging__LogLevel__Default"] = "Warning",
        ["Logging__LogLevel__DontGoBack"] = "Information",
        // One line each, with the time, so the replicas' logs line up with the timeline and the call log.
        ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        ["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ",
        ["Logging__Console__FormatterOptions__UseUtcTimestamp"] = "true",
        ["LoadTest__AllowFutureDays"] = "true",
    };

    private ChildProcess StartSimulator()
    {
        _simulatorUrl = $"http://127.0.0.1:{FreePort()}";
        return ChildProcess.Start(settings.SimulatorDll, [], new Dictionary<string, string>
        {
            ["Urls"] = _simulatorUrl,
            ["Simulator__ClientSecret"] = ClientSecret,
            ["Simulator__AddedLatencyMs"] = "5",
            ["Chaos__CallLog"] = _callLog,
            ["Logging__LogLevel__Default"] = "Warning",
        }, Path.Combine(settings.WorkDirectory, "stand-in.log"));
    }

    private Task<int> CliAsync(IReadOnlyList<string> arguments, TimeSpan offset, string log, CancellationToken cancellationToken) =>
        ChildProcess.RunAsync(settings.CoreDll, arguments, CoreSettings(offset), Path.Combine(settings.WorkDirectory, $"{log}.log"), TimeSpan.FromMinutes(10));

    private async Task<HttpStatusCode?> OperatorAsync(IReadOnlyList<Replica> replicas, string path, CancellationToken cancellationToken)
    {
        foreach (var replica in replicas.OrderBy(_ => Random.Shared.Next()))
        {
            try
            {
                using var answer = await _http.PostAsJsonAsync(replica.Url + path, new { reason = "chaos campaign" }, cancellationToken);
                return answer.StatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // That replica is down or stopped: the next one.
            }
        }
        return null;
    }

    private async Task SetExtensionFaultAsync(string kind, int latencyMs, CancellationToken cancellationToken)
    {
        using var answer = await _http.PostAsync($"{_simulatorUrl}/chaos/fault?kind={kind}&latencyMs={latencyMs}", null, cancellationToken);
        answer.EnsureSuccessStatusCode();
    }

    private async Task StopPostgresAsync(bool immediate, CancellationToken cancellationToken)
    {
        if (!immediate)
        {
            await ShellAsync(settings.PostgresScript, ["pause", settings.PostgresPort.ToString(CultureInfo.InvariantCulture)], cancellationToken);
            return;
        }
        // postgres.sh stops fast only; an immediate stop is a crash (no checkpoint), as a power cut would leave it.
        var data = Environment.GetEnvironmentVariable("DONTGOBACK_PG_DATA") ?? $"/tmp/dontgoback-pg-{settings.PostgresPort}";
        var bin = Environment.GetEnvironmentVariable("PG_BIN") ?? "/usr/lib/postgresql/15/bin";
        await ShellAsync("runuser", ["-u", "postgres", "--", $"{bin}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], cancellationToken);
    }

    private static async Task ShellAsync(string file, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {await error}");
    }

    private async Task CreateDatabaseAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(settings.AdminConnection);
        await connection.OpenAsync(cancellationToken);
        // scripts/postgres.sh runs the cluster with synchronous_commit=off for speed, which lets an immediate stop (a crash) lose
        // the last commits it had acknowledged: seed 3 lost three acknowledged adjustments that way. The campaign's database
        // commits durably (a database's setting is each session's default, over the server's command line); fsync may stay
        // off, since the machine itself never crashes.
        await using var command = new NpgsqlCommand(
            $"DROP DATABASE IF EXISTS {Database} WITH (FORCE); CREATE DATABASE {Database}; ALTER DATABASE {Database} SET synchronous_commit = on;", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<long[]> ActiveUsersAsync(CancellationToken cancellationToken) =>
        await WithDatabaseAsync(async connection =>
        {
            var ids = new List<long>();
            await using var command = new NpgsqlCommand("SELECT id FROM users WHERE status = 'ACTIVE' ORDER BY id", connection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                ids.Add(reader.GetInt64(0));
            return ids.ToArray();
        }, cancellationToken);

    private async Task<string?> RunStatusAsync(DateOnly day, CancellationToken cancellationToken) =>
        await WithDatabaseAsync(async connection =>
        {
            await using var command = new NpgsqlCommand("SELECT status FROM batch_runs WHERE job_name = @job AND day = @day", connection);
            command.Parameters.AddWithValue("job", Job);
            command.Parameters.AddWithValue("day", day);
            return await command.ExecuteScalarAsync(cancellationToken) as string;
        }, cancellationToken);

    /// <summary>The driver's own reads ride out the database's outages: tried again for up to a minute.</summary>
    private async Task<T> WithDatabaseAsync<T>(Func<NpgsqlConnection, Task<T>> read, CancellationToken cancellationToken)
    {
        for (var tries = 0; ; tries++)
        {
            try
            {
                await using var connection = new NpgsqlConnection(_connection);
                await connection.OpenAsync(cancellationToken);
                return await read(connection);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException && tries < 60 && !cancellationToken.IsCancellationRequested)
            {
                NpgsqlConnection.ClearAllPools();
                await Task.Delay(1_000, cancellationToken);
            }
        }
    }

    private Task WithDatabaseAsync(Func<NpgsqlConnection, Task> act, CancellationToken cancellationToken) =>
        WithDatabaseAsync(async connection => { await act(connection); return 0; }, cancellationToken);

    private IEnumerable<OracleCall> ReadCallLog()
    {
        foreach (var line in File.ReadLines(_callLog))
        {
            var parts = line.Split(',');
            // A call without a readable day never reached the core server's refresh of any day.
            if (parts.Length < 4 || !DateOnly.TryParseExact(parts[1], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
                continue;
            yield return new OracleCall(long.Parse(parts[0], CultureInfo.InvariantCulture), day, int.Parse(parts[2], CultureInfo.InvariantCulture),
                parts[3].Length > 0 ? double.Parse(parts[3], CultureInfo.InvariantCulture) : null);
        }
    }

    /// <summary>The offset that puts a process's clock at <paramref name="time"/> of <paramref name="day"/> in Seoul, now.</summary>
    private static TimeSpan OffsetTo(DateOnly day, TimeOnly time) => Instant(day, time) - DateTimeOffset.UtcNow;

    private static DateTimeOffset Instant(DateOnly day, TimeOnly time) => new(day.ToDateTime(time), Seoul);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task StopAsync(ChildProcess process)
    {
        await process.StopAsync(TimeSpan.FromSeconds(15));
        process.Dispose();
    }

    private async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var until = _clock.Elapsed + timeout;
        while (true)
        {
            try
            {
                if (await condition())
                    return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            if (_clock.Elapsed > until)
                throw new TimeoutException($"gave up waiting for {what} after {timeout.TotalSeconds:0} s");
            await Task.Delay(250);
        }
    }

    private void Count(string what) => _tally.AddOrUpdate(what, 1, (_, n) => n + 1);

    private void Say(string line) => Console.Error.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:0.0}] {line}");
}
