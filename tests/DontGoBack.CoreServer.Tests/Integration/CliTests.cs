using System.Collections.Concurrent;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The built core server run as the operator runs it, `dotnet DontGoBack.CoreServer.dll …`, each
/// test in a fresh working directory: exit codes, what goes to standard output and standard
/// error, and whether the database was touched.
/// </summary>
public sealed class CliTests : IDisposable
{
    private readonly string _workingDirectory = Directory.CreateTempSubdirectory("dontgoback-cli-").FullName;

    /// <summary>Where the default connection string (Data Source=data/dontgoback.db) puts the database.</summary>
    private string DefaultDatabase => Path.Combine(_workingDirectory, "data", "dontgoback.db");

    public void Dispose() => Directory.Delete(_workingDirectory, recursive: true);

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    [InlineData("refresh --help")]
    [InlineData("help retry-failed")]
    [InlineData("--version")]
    public async Task Help_and_version_print_and_exit_0_without_touching_the_database(string commandLine)
    {
        var cli = await CoreServerProcess.RunAsync(new Dictionary<string, string?>(), commandLine.Split(' '), _workingDirectory);

        Assert.True(cli.ExitCode == 0, cli.Output);
        Assert.Empty(cli.StandardError);
        if (commandLine == "--version")
            Assert.Matches(@"^\d+\.\d+\.\d+", Assert.Single(cli.StandardOutput));
        else
            Assert.Contains(cli.StandardOutput, line => line.StartsWith("Usage:", StringComparison.Ordinal));
        // The same default settings do create it for a command: see the next test.
        Assert.False(Directory.Exists(Path.GetDirectoryName(DefaultDatabase)), "the data folder was created");
    }

    [Fact]
    public async Task A_command_creates_the_default_database_under_the_working_directory()
    {
        var cli = await CoreServerProcess.RunAsync(new Dictionary<string, string?>(), ["runs"], _workingDirectory);

        Assert.True(cli.ExitCode == 0, cli.Output);
        Assert.StartsWith("| id | day | status |", cli.StandardOutput[0]);
        Assert.True(File.Exists(DefaultDatabase), $"no database at {DefaultDatabase}; output:\n{cli.Output}");
        Assert.Contains(cli.StandardError, line => line.Contains($"SQLite file {DefaultDatabase}"));
    }

    [Theory]
    [InlineData("nope", "unknown command 'nope'; see --help")]
    [InlineData("refrsh", "unknown command 'refrsh'; did you mean 'refresh'? see --help")]
    [InlineData("--verbose", "unknown option '--verbose'")]
    [InlineData("--urls http://127.0.0.1:0 extra", "unknown command 'extra'")]
    [InlineData("refresh --bogus", "'--bogus'")]
    [InlineData("refresh --day", "--day")]
    // An unknown job: the registry's one refusal, naming the jobs, whichever command it was given to.
    [InlineData("runs --job nope", UnknownJob)]
    [InlineData("run --job nope", UnknownJob)]
    [InlineData("retry-failed --day 2025-08-01 --job nope", UnknownJob)]
    [InlineData("backfill --days 1 --job nope", UnknownJob)]
    [InlineData("run --job asset-refresh-subset", "--job: there is no job 'asset-refresh-subset'; the jobs are asset-refresh")]
    [InlineData("run --day 2025-08-01", "Option '--job' is required.")]
    [InlineData("backfill --days 1 --job user-dormancy --users 1-5", "--users: user dormancy runs every id of a day, never some only; leave --users out.")]
    // A value that does not parse reaches the options' own checks too; they leave it to the parser's message.
    [InlineData("seed --users abc", "Cannot parse argument 'abc' for option '--users'")]
    [InlineData("seed --users 5 --active-percent x", "Cannot parse argument 'x' for option '--active-percent'")]
    [InlineData("backfill --days zz", "Cannot parse argument 'zz' for option '--days'")]
    public async Task Unknown_command_or_option_exits_2_with_a_message_on_standard_error(string commandLine, string message)
    {
        var cli = await CoreServerProcess.RunAsync(new Dictionary<string, string?>(), commandLine.Split(' '), _workingDirectory);

        Assert.True(cli.ExitCode == 2, cli.Output);
        Assert.Empty(cli.StandardOutput);
        Assert.Contains(cli.StandardError, line => line.Contains(message));
        if (message == UnknownJob)
            Assert.Equal(UnknownJob, Assert.Single(cli.StandardError, line => line.Contains("nope")));
        Assert.False(Directory.Exists(Path.GetDirectoryName(DefaultDatabase)), "the data folder was created");
    }

    private const string UnknownJob = "--job: there is no job 'nope'; the jobs are asset-refresh (some users only: asset-refresh-subset), user-dormancy, history-maintenance.";

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Run_runs_a_day_of_the_job_it_names_and_runs_and_retry_failed_find_it_by_the_same_name(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var day = TestCalendar.Seoul.Today.AddDays(-1);
        var settings = Settings(database);
        settings["DemoData:UsersOnEmptyDatabase"] = "20";

        var run = await CoreServerProcess.RunAsync(settings, ["run", "--job", "user-dormancy", "--day", $"{day:yyyy-MM-dd}", "--json"], _workingDirectory);

        Assert.True(run.ExitCode == 0, run.Output);
        using (var result = JsonDocument.Parse(Assert.Single(run.StandardOutput)))
            Assert.Equal("completed", result.RootElement.GetProperty("status").GetString());
        Assert.Contains(run.StandardError, line => line.StartsWith($"User dormancy {day:yyyy-MM-dd}: completed — total 20 active users", StringComparison.Ordinal));
        await using (var db = database.CreateContext())
            Assert.Equal(["user-dormancy"], await db.BatchRuns.Select(r => r.JobName).ToListAsync());

        var runs = await CoreServerProcess.RunAsync(settings, ["runs", "--job", "user-dormancy", "--json"], _workingDirectory);
        Assert.True(runs.ExitCode == 0, runs.Output);
        using (var listed = JsonDocument.Parse(Assert.Single(runs.StandardOutput)))
            Assert.Equal([$"{day:yyyy-MM-dd}"], listed.RootElement.EnumerateArray().Select(r => r.GetProperty("day").GetString()));
        // Nothing failed, so the retry has nothing to do; a job never run that day says what runs it.
        var retry = await CoreServerProcess.RunAsync(settings, ["retry-failed", "--job", "user-dormancy", "--day", $"{day:yyyy-MM-dd}"], _workingDirectory);
        Assert.True(retry.ExitCode == 0, retry.Output);
        Assert.Contains(retry.StandardOutput, line => line.StartsWith($"User dormancy {day:yyyy-MM-dd}: nothing to retry", StringComparison.Ordinal));
        var neverRun = await CoreServerProcess.RunAsync(settings, ["retry-failed", "--job", "user-dormancy", "--day", $"{day.AddDays(-1):yyyy-MM-dd}"], _workingDirectory);
        Assert.True(neverRun.ExitCode == 2, neverRun.Output);
        Assert.Contains(neverRun.StandardError, line => line.EndsWith($"`run --job user-dormancy --day {day.AddDays(-1):yyyy-MM-dd}` runs the day.", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Retry_failed_of_a_day_never_run_says_so_exits_2_and_runs_nothing(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var day = TestCalendar.Seoul.Today.AddDays(-1);
        var settings = Settings(database);
        settings["DemoData:UsersOnEmptyDatabase"] = "20";

        var cli = await CoreServerProcess.RunAsync(settings, ["retry-failed", "--day", $"{day:yyyy-MM-dd}", "--json"], _workingDirectory);

        Assert.True(cli.ExitCode == 2, cli.Output);
        Assert.Empty(cli.StandardOutput);
        Assert.Contains(cli.StandardError, line => line.Contains($"No asset refresh run is recorded for {day:yyyy-MM-dd}"));
        // The database was reached (migrated, so these queries work), and nothing was added to it.
        await using var db = database.CreateContext();
        Assert.Equal(0, await db.BatchRuns.CountAsync());
        Assert.Equal(0, await db.Users.CountAsync());
    }

    [Fact]
    public async Task Refresh_of_a_future_day_is_refused_unless_the_load_test_setting_allows_it()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var ahead = TestCalendar.Seoul.Today.AddDays(3);
        var settings = Settings(database);
        settings["DemoData:UsersOnEmptyDatabase"] = "5";
        string[] args = ["refresh", "--day", $"{ahead:yyyy-MM-dd}", "--json", "--allow-future-day"];

        var refused = await CoreServerProcess.RunAsync(settings, args, _workingDirectory);

        Assert.True(refused.ExitCode == 2, refused.Output);
        Assert.Empty(refused.StandardOutput);
        Assert.Equal(
            "--allow-future-day writes snapshots ahead of today, which later adjustments never reach; it is for load-test databases only "
            + "and needs LoadTest:AllowFutureDays=true.",
            Assert.Single(refused.StandardError, line => line.Contains("--allow-future-day")));

        // A load test says so, and the day runs: its first attempt, so the refused command ran nothing.
        settings["LoadTest:AllowFutureDays"] = "true";
        var allowed = await CoreServerProcess.RunAsync(settings, args, _workingDirectory);

        Assert.True(allowed.ExitCode == 0, allowed.Output);
        using var result = JsonDocument.Parse(Assert.Single(allowed.StandardOutput));
        Assert.Equal(($"{ahead:yyyy-MM-dd}", "completed"),
            (result.RootElement.GetProperty("day").GetString(), result.RootElement.GetProperty("status").GetString()));
        await using var db = database.CreateContext();
        var run = await db.BatchRuns.AsNoTracking().SingleAsync();
        Assert.Equal((ahead, 1), (run.Day, run.Attempts));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite, CoreServerProcess.SigTerm, 143)]
    [InlineData(DatabaseProvider.Postgres, CoreServerProcess.SigTerm, 143)]
    [InlineData(DatabaseProvider.Sqlite, CoreServerProcess.SigInt, 130)]
    public async Task A_signal_during_refresh_records_the_run_aborted_prints_the_result_and_exits_non_zero(
        DatabaseProvider provider, int signal, int exitCode)
    {
        // Slow answers and two calls in flight: 85 active users take about 40 s, far longer than the test waits even on a busy machine.
        await using var standIn = await StandInServer.StartAsync(new Dictionary<string, string?> { ["Simulator:AddedLatencyMs"] = "1000" });
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = Settings(database);
        settings["DemoData:UsersOnEmptyDatabase"] = "100";
        settings["AssetRefresh:MaxConcurrency"] = "2";
        settings["Extension:BaseUrl"] = standIn.Url;
        settings["Auth:BaseUrl"] = standIn.Url;
        settings["Auth:ClientSecret"] = StandInServer.ClientSecret;
        await using var cli = CoreServerProcess.Start(settings, ["refresh", "--json"], _workingDirectory);

        await Eventually.UntilAsync(() => Task.FromResult(cli.StandardError.Any(line => line.Contains("starting (attempt 1)"))), TimeSpan.FromSeconds(60));
        Assert.Equal(BatchRunStatus.Running, (await RunOfTodayAsync(database)).Status);
        cli.Signal(signal);

        Assert.Equal(exitCode, await cli.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        // With --json, standard output is the JSON alone; the line people read is on standard error.
        using var result = JsonDocument.Parse(Assert.Single(cli.StandardOutput));
        Assert.Equal("aborted", result.RootElement.GetProperty("status").GetString());
        Assert.Contains(cli.StandardError, line => line.Contains(": aborted — total"));
        var run = await RunOfTodayAsync(database);
        Assert.Equal((BatchRunStatus.Aborted, run.Id), (run.Status, result.RootElement.GetProperty("runId").GetInt64()));
        Assert.Null(run.LeaseOwner);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Verify_exits_0_on_a_sound_history_and_1_with_the_breaks_listed(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = Settings(database);
        var seed = await CoreServerProcess.RunAsync(settings, ["seed", "--users", "20"], _workingDirectory);
        var refresh = await CoreServerProcess.RunAsync(settings, ["refresh"], _workingDirectory);
        Assert.True(seed.ExitCode == 0 && refresh.ExitCode == 0, seed.Output + refresh.Output);

        var sound = await CoreServerProcess.RunAsync(settings, ["verify"], _workingDirectory);
        Assert.True(sound.ExitCode == 0, sound.Output);
        Assert.StartsWith("0 breaks of the chain rule", sound.StandardOutput[^1]);

        await using (var db = database.CreateContext())
        {
            var today = TestCalendar.Seoul.Today;
            var changed = await db.DailyAssetSnapshots.Where(s => s.UserId == 1 && s.SnapshotDay == today)
                .ExecuteUpdateAsync(set => set.SetProperty(s => s.OpeningAmount, s => s.OpeningAmount + 1));
            Assert.True(changed == 1, $"{changed} rows of user 1 on {today}; refresh said: {refresh.Output}");
        }
        var broken = await CoreServerProcess.RunAsync(settings, ["verify", "--limit", "1"], _workingDirectory);
        Assert.True(broken.ExitCode == 1, broken.Output);
        Assert.Contains(broken.StandardOutput, line => line.StartsWith("| 1 | ", StringComparison.Ordinal) && line.Contains("| closing |"));
        Assert.Matches(@"^\d+ breaks of the chain rule \(1 shown\)", broken.StandardOutput[^1]);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Verify_that_the_database_fails_says_why_in_one_line_without_a_stack_trace_and_exits_3(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = Settings(database);
        var seed = await CoreServerProcess.RunAsync(settings, ["seed", "--users", "5"], _workingDirectory);
        Assert.True(seed.ExitCode == 0, seed.Output);
        // The schema is migrated, so start-up passes; the check's own statement then fails in the database.
        await using (var db = database.CreateContext())
            await db.Database.ExecuteSqlRawAsync("ALTER TABLE asset_changes RENAME COLUMN delta TO delta_renamed");

        var cli = await CoreServerProcess.RunAsync(settings, ["verify"], _workingDirectory);

        Assert.True(cli.ExitCode == 3, cli.Output);
        Assert.Empty(cli.StandardOutput);
        var failed = Assert.Single(cli.StandardError, line => line.Contains("verify failed", StringComparison.Ordinal));
        Assert.StartsWith("verify failed: database error: ", failed);
        Assert.Contains("delta", failed);
        Assert.DoesNotContain(cli.StandardError, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal) || line.Contains("Exception", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_command_sends_no_telemetry_even_with_an_otlp_endpoint_configured()
    {
        // A collector on loopback that records every request made to it, whatever its path.
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var collector = builder.Build();
        var received = new ConcurrentQueue<string>();
        var metricsArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        collector.Run(http =>
        {
            received.Enqueue(http.Request.Path);
            if (http.Request.Path == "/v1/metrics")
                metricsArrived.TrySetResult();
            return Task.CompletedTask;
        });
        await collector.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            [Telemetry.OtlpEndpointVariable] = collector.Urls.First(),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            // Every 50 ms: a command that recorded metrics would export many times over its run.
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "50",
            ["DemoData:UsersOnEmptyDatabase"] = "200",
        };

        var refresh = await CoreServerProcess.RunAsync(settings, ["refresh", "--json"], _workingDirectory);

        Assert.True(refresh.ExitCode == 0, refresh.Output);
        Assert.Empty(received);

        // The same settings do reach the collector from the server, so the silence above is the command's.
        await using var server = CoreServerProcess.Start(settings, workingDirectory: _workingDirectory);
        await metricsArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    private static async Task<BatchRun> RunOfTodayAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        var today = TestCalendar.Seoul.Today;
        return await db.BatchRuns.AsNoTracking().SingleAsync(r => r.JobName == AssetRefreshJob.Name && r.Day == today);
    }

    private static Dictionary<string, string?> Settings(TestDatabase database) => new()
    {
        ["Database:Provider"] = database.Provider.ToString(),
        ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
    };
}
