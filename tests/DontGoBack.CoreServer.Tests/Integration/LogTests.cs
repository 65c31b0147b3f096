using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.Logging;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>What an operator reads on the console: short lines for expected trouble, no alarms for normal events.</summary>
public sealed class LogTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_unreachable_auth_server_on_a_fresh_database_logs_one_line_per_retry_and_a_summary_without_stack_traces(
        DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var closed = ClosedLoopbackUrl();
        var day = TestCalendar.Seoul.Today;
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = provider.ToString(),
            ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
            ["DemoData:UsersOnEmptyDatabase"] = "20",
            ["Extension:BaseUrl"] = closed,
            ["Auth:BaseUrl"] = closed,
            ["Auth:ClientSecret"] = "secret",
            ["Extension:MaxRetryAttempts"] = "2",
            ["Extension:RetryBaseDelay"] = "00:00:00.010",
        };

        var cli = await CoreServerProcess.RunAsync(settings, ["refresh", "--json"]);

        Assert.True(cli.ExitCode == 1, cli.Output);
        using (var result = JsonDocument.Parse(cli.StandardOutput[^1]))
            Assert.Equal("failed", result.RootElement.GetProperty("status").GetString());
        var log = cli.StandardError;
        var retries = log.Where(line => line.Contains("/msa/auth/api/token failed (Connection refused")).ToList();
        Assert.True(retries.Count >= 2, cli.Output);
        Assert.All(retries, line => Assert.Matches(@"; retry \d+ in \d+ ms$", line));
        Assert.Single(log, line => line.Contains($"Asset refresh for {day:yyyy-MM-dd} failed:"));
        Assert.DoesNotContain(log, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.DoesNotContain(log, line => line.Contains("Exception"));
        Assert.DoesNotContain(log, line => line.Contains("Polly["));
        // A fresh database: migrations ran (the run was recorded) without EF warnings or failed commands.
        Assert.DoesNotContain(log, line => line.Contains("Microsoft.EntityFrameworkCore"));
    }

    [Fact]
    public async Task Retries_past_the_limit_are_counted_in_one_summary_per_interval_naming_the_run_not_logged_one_by_one()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Extension:RetryLogLimit"] = "5",
            ["Batch:ProgressInterval"] = "00:00:01",
        });
        var day = new DateOnly(2025, 8, 10);
        var ids = await app.AddActiveUsersAsync(40, day.AddDays(-1), 10_000_000);
        var failing = ids.Take(30).ToArray();
        app.Extension.Inject(FakeExtensionServer.Fault.ServerError, failing);

        var result = await app.CreateClient().RunDayAsync(day);
        // Every call past a user's first was a retry the server saw.
        var retried = failing.Sum(id => Math.Max(0, app.Extension.CallsFor(id) - 1));

        var run = $"asset-refresh run {result.RunId} attempt 1";
        var summaries = RunRetrySummaries(app, run);
        var single = app.Logs.Entries.Count(e => System.Text.RegularExpressions.Regex.IsMatch(e.Message, @" failed \(HTTP 500\); retry \d+ in \d+ ms$"));
        Assert.True(retried > 5, $"only {retried} retries");
        Assert.Equal(5, single);
        // The run's end logged what its last interval had: every retry is in a summary.
        Assert.Equal(retried, summaries.Sum(m => m.Retries));
        Assert.Equal(retried - 5, summaries.Sum(m => m.NotLogged));
        Assert.All(summaries, m => Assert.StartsWith("HTTP 500: ", m.Classes));
        Assert.All(summaries, m => Assert.Equal("HTTP 500", m.Sample));
        Assert.Equal((retried, retried - 5), RunRetryTotals(app, run));
    }

    [Fact]
    public async Task Each_run_has_its_own_cap_on_retry_lines_and_its_own_summaries_naming_it()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Extension:RetryLogLimit"] = "3",
            // Longer than both runs take: a cap per process would still be spent when the second run starts.
            ["Batch:ProgressInterval"] = "00:01:00",
        });
        var day = new DateOnly(2025, 8, 10);
        var ids = await app.AddActiveUsersAsync(40, day.AddDays(-3), 10_000_000);
        var failing = ids.Take(30).ToArray();
        app.Extension.Inject(FakeExtensionServer.Fault.ServerError, failing);
        var client = app.CreateClient();

        var first = await client.RunDayAsync(day.AddDays(-2));
        var callsAfterFirst = failing.ToDictionary(id => id, app.Extension.CallsFor);
        var second = await client.RunDayAsync(day.AddDays(-1));

        var retriedFirst = failing.Sum(id => callsAfterFirst[id] - 1);
        var retriedSecond = failing.Sum(id => app.Extension.CallsFor(id) - callsAfterFirst[id] - 1);
        Assert.True(retriedFirst > 3 && retriedSecond > 3, $"only {retriedFirst} and {retriedSecond} retries");
        Assert.NotEqual(first.RunId, second.RunId);
        foreach (var (result, retried) in new[] { (first, retriedFirst), (second, retriedSecond) })
        {
            var run = $"asset-refresh run {result.RunId} attempt 1";
            var lines = app.Logs.Entries.Count(e => e.Message.StartsWith($"{run}: ", StringComparison.Ordinal)
                && System.Text.RegularExpressions.Regex.IsMatch(e.Message, @" failed \(HTTP 500\); retry \d+ in \d+ ms$"));
            Assert.True(lines == 3, $"{run}: {lines} retry lines, not its own 3");
            var summary = Assert.Single(RunRetrySummaries(app, run));
            Assert.Equal((retried, retried - 3), (summary.Retries, summary.NotLogged));
            Assert.Equal((retried, retried - 3), RunRetryTotals(app, run));
        }
    }

    private static readonly System.Text.RegularExpressions.Regex RunRetrySummary = new(
        @"^(.+): (\d+) retries of calls to other servers in the last \d+ s \((.+)\), e\.g\. (.+); (\d+) of them not logged one by one \(Extension:RetryLogLimit \d+ per run\)$");

    /// <summary>The run's retry summaries: one per interval in which it retried, the last at its end.</summary>
    private static List<(int Retries, string Classes, string Sample, int NotLogged)> RunRetrySummaries(CoreServerApp app, string run) =>
        app.Logs.Entries.Select(e => RunRetrySummary.Match(e.Message)).Where(m => m.Success && m.Groups[1].Value == run)
            .Select(m => (int.Parse(m.Groups[2].Value), m.Groups[3].Value, m.Groups[4].Value, int.Parse(m.Groups[5].Value))).ToList();

    /// <summary>The run's one line of totals at its end.</summary>
    private static (int Retries, int NotLogged) RunRetryTotals(CoreServerApp app, string run)
    {
        var totals = new System.Text.RegularExpressions.Regex(
            @"^(.+): (\d+) retries of calls to other servers in all \((.+)\); (\d+) of them not logged one by one \(Extension:RetryLogLimit \d+ per run\)$");
        var line = Assert.Single(app.Logs.Entries.Select(e => totals.Match(e.Message)), m => m.Success && m.Groups[1].Value == run);
        return (int.Parse(line.Groups[2].Value), int.Parse(line.Groups[4].Value));
    }

    [Fact]
    public async Task Missed_days_beyond_the_catch_up_window_are_logged_as_a_count_and_a_range()
    {
        var today = new DateOnly(2025, 8, 10);
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        // The job's first run was 60 days ago; then nothing until today.
        await using (var before = new CoreServerApp(database))
        {
            var client = before.CreateClient();
            await before.AddUserAsync(AccountStatus.Active, (today.AddDays(-61), 1_000_000));
            // On its own day: the schedule owes the days since (a day run by hand later would owe nothing after it).
            before.Time.Now = CoreServerApp.DefaultNow.AddDays(-60);
            await client.RunDayAsync(today.AddDays(-60));
        }

        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["AssetRefresh:Enabled"] = "true", ["Batch:MaxCatchUpDays"] = "2",
        });
        app.CreateClient();

        await app.Logs.WaitForAsync(e => e.Message.Contains("MaxCatchUpDays"), TimeSpan.FromSeconds(20));
        var warning = Assert.Single(app.Logs.Entries, e => e.Message.Contains("MaxCatchUpDays"));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains($"57 missed asset refresh days from {today.AddDays(-59):yyyy-MM-dd} to {today.AddDays(-3):yyyy-MM-dd}", warning.Message);
        Assert.DoesNotContain($"{today.AddDays(-30):yyyy-MM-dd}", warning.Message);
    }

    /// <summary>An address on loopback where nothing listens: a port just freed by a listener.</summary>
    private static string ClosedLoopbackUrl()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port}";
    }
}
