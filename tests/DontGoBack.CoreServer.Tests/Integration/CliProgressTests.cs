using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Xunit.Abstractions;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// What the CLI shows people while it works, run as the operator runs it: a live bar on a terminal
/// (a pseudo-terminal `script` opens), progress lines on a redirected standard error, nothing with
/// `--quiet`; and standard output holding the result alone.
/// </summary>
public sealed partial class CliProgressTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeZoneInfo Seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
    private const int ProgressIntervalMs = 200;
    private readonly string _workingDirectory = Directory.CreateTempSubdirectory("dontgoback-cli-progress-").FullName;

    public void Dispose() => Directory.Delete(_workingDirectory, recursive: true);

    [Fact]
    public async Task Without_a_terminal_refresh_logs_a_progress_line_every_interval_and_standard_output_is_the_json_alone()
    {
        await using var standIn = await SlowStandInAsync(latencyMs: 100);
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);

        var cli = await CoreServerProcess.RunAsync(SlowedRun(database, standIn, users: 60), ["refresh", "--json"], _workingDirectory);
        output.WriteLine(cli.Output);

        Assert.True(cli.ExitCode == 0, cli.Output);
        var result = JsonDocument.Parse(Assert.Single(cli.StandardOutput)).RootElement;
        Assert.Equal("completed", result.GetProperty("status").GetString());
        var total = result.GetProperty("total").GetInt32();
        var today = TestCalendar.Seoul.Today;
        var lines = ProgressLines(cli.StandardError, $"Asset refresh {today:yyyy-MM-dd}");
        Assert.True(lines.Count >= 2, $"{lines.Count} progress lines in a run of {result.GetProperty("elapsedMs")} ms:\n{cli.Output}");
        Assert.All(lines, line => Assert.Equal(total, line.Expected));
        Assert.True(lines.Zip(lines.Skip(1)).All(pair => pair.Second.Seen >= pair.First.Seen), cli.Output);
        // At least one reading in the middle of the run, with the rate and an ETA worked out from it.
        Assert.Contains(lines, line => line.Seen > 0 && line.Seen < total && line.UsersPerSecond > 0 && line.EtaSeconds is not null);
        // The line people read goes to standard error, beside the log.
        Assert.Contains(cli.StandardError, line => line.StartsWith($"Asset refresh {today:yyyy-MM-dd}: completed — total {total}", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Quiet_prints_the_result_alone_through_a_run_long_enough_for_progress_lines(bool json)
    {
        await using var standIn = await SlowStandInAsync(latencyMs: 100);
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);

        var cli = await CoreServerProcess.RunAsync(SlowedRun(database, standIn, users: 60), json ? ["refresh", "--json", "--quiet"] : ["refresh", "-q"],
            _workingDirectory);
        output.WriteLine(cli.Output);

        Assert.True(cli.ExitCode == 0, cli.Output);
        // Quiet keeps warnings (a retried call on a loaded machine is one) and drops everything below them.
        Assert.Empty(OutputBelowWarnings(cli.StandardError));
        var only = Assert.Single(cli.StandardOutput);
        if (json)
            Assert.Equal("completed", JsonDocument.Parse(only).RootElement.GetProperty("status").GetString());
        else
            Assert.Matches(@"^Asset refresh \d{4}-\d\d-\d\d: completed — total \d+ active users", only);
        // Progress had its chance: the run took several progress intervals, read from the run history.
        await using var db = database.CreateContext();
        var run = await db.BatchRuns.AsNoTracking().SingleAsync(r => r.JobName == AssetRefreshJob.Name);
        Assert.True((run.FinishedAt!.Value - run.StartedAt).TotalMilliseconds > 3 * ProgressIntervalMs, $"the run took {run.FinishedAt - run.StartedAt}");
    }

    [Fact]
    public async Task On_a_terminal_refresh_draws_a_live_bar_on_standard_error_and_standard_output_stays_the_json()
    {
        await using var standIn = await SlowStandInAsync(latencyMs: 100);
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var (json, typescript) = (Path.Combine(_workingDirectory, "result.json"), Path.Combine(_workingDirectory, "terminal"));

        await using var cli = CoreServerProcess.StartOnTerminal(SlowedRun(database, standIn, users: 60), ["refresh", "--json"], _workingDirectory,
            typescript, json);
        Assert.True(await cli.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, cli.Output);
        var terminal = await File.ReadAllTextAsync(typescript);
        output.WriteLine(terminal);

        var result = JsonDocument.Parse(Assert.Single(await File.ReadAllLinesAsync(json))).RootElement;
        var total = result.GetProperty("total").GetInt32();
        var today = TestCalendar.Seoul.Today;
        // The bar: the run's title, the bar itself, done of total with the rate and ETA, drawn again in place (cursor up) as the run goes.
        Assert.Contains($"Asset refresh {today:yyyy-MM-dd}", terminal);
        Assert.Contains("━━━━━", terminal);
        Assert.Matches($@"100%\S* {total} of {total} users · [\d,]+ users/s · ETA 0 s", Plain(terminal));
        Assert.Matches(@"\d+% [\d,]+ of [\d,]+ users · [\d,]+ users/s · ETA \d+ s", Plain(terminal));
        // Drawn in place: frames one after the other on one line, back to its start with a carriage return, the cursor hidden meanwhile.
        Assert.Contains("\u001b[?25l", terminal);
        Assert.Matches(@"\d+ of \d+ users · [^\n]*\r[^\n]*\d+ of \d+ users · ", terminal);
        // No progress line is logged where a bar is drawn; the line people read follows the bar.
        Assert.DoesNotContain("CommandProgress", terminal);
        Assert.Contains($"Asset refresh {today:yyyy-MM-dd}: completed — total {total}", terminal);
    }

    [Fact]
    public async Task On_a_terminal_seed_and_backfill_show_their_own_progress_and_with_json_print_one_document()
    {
        var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var _ = database;
        var settings = Settings(database);
        var seedJson = Path.Combine(_workingDirectory, "seed.json");
        var backfillJson = Path.Combine(_workingDirectory, "backfill.json");

        await using (var seed = CoreServerProcess.StartOnTerminal(settings, ["seed", "--users", "25000", "--json"], _workingDirectory,
                         Path.Combine(_workingDirectory, "seed.terminal"), seedJson))
        {
            Assert.True(await seed.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, seed.Output);
            output.WriteLine(seed.Output);
            // Written in chunks, each counted: the bar ends at every user added.
            Assert.Matches(@"Seed\s.*100%\S* 25,000 of 25,000 users · [\d,]+ users/s", Plain(seed.Output));
        }
        var seeded = JsonDocument.Parse(Assert.Single(await File.ReadAllLinesAsync(seedJson))).RootElement;
        Assert.Equal(("completed", 25_000, 25_000, 1L, 25_000L), (seeded.GetProperty("status").GetString(), seeded.GetProperty("requested").GetInt32(),
            seeded.GetProperty("added").GetInt32(), seeded.GetProperty("firstId").GetInt64(), seeded.GetProperty("lastId").GetInt64()));

        await using (var backfill = CoreServerProcess.StartOnTerminal(settings, ["backfill", "--days", "2", "--users", "1-40", "--json"], _workingDirectory,
                         Path.Combine(_workingDirectory, "backfill.terminal"), backfillJson))
        {
            Assert.True(await backfill.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, backfill.Output);
            output.WriteLine(backfill.Output);
            // Days done of days, and the day's users.
            Assert.Matches(@"days\s.*2 of 2 days", Plain(backfill.Output));
            Assert.Matches(@"Back-fill \d{4}-\d\d-\d\d users 1-40\s.*100%\S* \d+ of \d+ users", Plain(backfill.Output));
        }
        var filled = JsonDocument.Parse(Assert.Single(await File.ReadAllLinesAsync(backfillJson))).RootElement;
        Assert.Equal("completed", filled.GetProperty("status").GetString());
        var today = TestCalendar.Seoul.Today;
        Assert.Equal([$"{today.AddDays(-2):yyyy-MM-dd}", $"{today.AddDays(-1):yyyy-MM-dd}"],
            filled.GetProperty("days").EnumerateArray().Select(d => d.GetProperty("result").GetProperty("day").GetString()));
        Assert.All(filled.GetProperty("days").EnumerateArray(), d => Assert.Equal("1-40", d.GetProperty("users").GetString()));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Runs_shows_the_progress_and_eta_of_a_running_day(DatabaseProvider provider)
    {
        // Long enough that both `runs` commands see it running even on a loaded machine: 60 active users, one call of a second
        // at a time, about a minute (the test ends it once it has looked).
        await using var standIn = await SlowStandInAsync(latencyMs: 1000);
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = SlowedRun(database, standIn, users: 60);
        settings["AssetRefresh:MaxConcurrency"] = "1";
        await using var refresh = CoreServerProcess.Start(settings, ["refresh"], _workingDirectory);
        // Progress persisted by the running attempt: some users seen of those counted at its start.
        await Eventually.UntilAsync(async () =>
        {
            await using var db = database.CreateContext();
            try
            {
                return await db.BatchRunAttempts.AnyAsync(a => a.Status == BatchRunStatus.Running && a.Total >= 2 && a.Expected > a.Total);
            }
            catch (System.Data.Common.DbException)
            {
                // Not migrated yet: the command is still starting.
                return false;
            }
        }, TimeSpan.FromSeconds(60));

        var table = await CoreServerProcess.RunAsync(settings, ["runs"], _workingDirectory);
        var json = await CoreServerProcess.RunAsync(settings, ["runs", "--json"], _workingDirectory);
        output.WriteLine(table.Output + json.Output);

        Assert.True(table.ExitCode == 0 && json.ExitCode == 0, table.Output + json.Output);
        // Times in the batch zone, each labelled with it.
        Assert.EndsWith("| progress | ETA (Asia/Seoul) |", table.StandardOutput[0]);
        var row = Assert.Single(table.StandardOutput, line => line.Contains("| running |"));
        var cells = row.Split('|', StringSplitOptions.TrimEntries);
        Assert.Matches(@"^\d+ of 60 \(\d+%\), [\d,]+ users/s$", cells[^3]);
        Assert.True(cells[^2].EndsWith(" KST", StringComparison.Ordinal)
                    && DateTime.TryParseExact(cells[^2][..^4], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var inSeoul)
                    && TimeZoneInfo.ConvertTimeToUtc(inSeoul, Seoul) > DateTime.UtcNow.AddSeconds(-5),
            $"ETA cell '{cells[^2]}'");
        var run = Assert.Single(JsonDocument.Parse(Assert.Single(json.StandardOutput)).RootElement.EnumerateArray());
        Assert.Equal("running", run.GetProperty("status").GetString());
        var progress = run.GetProperty("progress");
        Assert.Equal(60, progress.GetProperty("expected").GetInt32());
        Assert.InRange(progress.GetProperty("seen").GetInt32(), 2, 59);
        Assert.True(progress.GetProperty("eta").GetDateTimeOffset() > progress.GetProperty("at").GetDateTimeOffset(), progress.ToString());
    }

    /// <summary>What the terminal shows, without colours and cursor moves.</summary>
    private static string Plain(string terminal) => AnsiSequence().Replace(terminal, "");

    private sealed record ProgressLine(int Seen, int Expected, double UsersPerSecond, int? EtaSeconds);

    /// <summary>The logged progress lines of <paramref name="what"/>, in order (the console logger puts each message on its own line).</summary>
    private static List<ProgressLine> ProgressLines(IEnumerable<string> standardError, string what) =>
        standardError.Select(line => Regex.Match(line, $@"^\s*{Regex.Escape(what)}: (\d+) of (\d+) users \(\d+%\), ([\d.]+) users/s, ETA (?:(\d+) s|unknown)$"))
            .Where(match => match.Success)
            .Select(match => new ProgressLine(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture),
                int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture), double.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture),
                match.Groups[4].Success ? int.Parse(match.Groups[4].Value, CultureInfo.InvariantCulture) : null))
            .ToList();

    /// <summary>
    /// The lines of standard error that are not part of a warning, error or critical log entry: progress,
    /// lower log levels, or anything else written there. The console logger starts an entry with its level
    /// and indents the entry's further lines.
    /// </summary>
    private static List<string> OutputBelowWarnings(IEnumerable<string> standardError)
    {
        var below = new List<string>();
        var inWarningOrWorse = false;
        foreach (var line in standardError)
        {
            var entry = LogEntryStart().Match(line);
            if (entry.Success)
                inWarningOrWorse = entry.Groups[1].Value is "warn" or "fail" or "crit";
            else if (!line.StartsWith(' '))
                inWarningOrWorse = false;
            if (!inWarningOrWorse)
                below.Add(line);
        }
        return below;
    }

    [GeneratedRegex("^(trce|dbug|info|warn|fail|crit): ")]
    private static partial Regex LogEntryStart();

    private static Task<StandInServer> SlowStandInAsync(int latencyMs) =>
        StandInServer.StartAsync(new Dictionary<string, string?> { ["Simulator:AddedLatencyMs"] = latencyMs.ToString(CultureInfo.InvariantCulture) });

    /// <summary>A run of that many demo users (ids below 85 are all ACTIVE) against the slowed stand-in, two calls in flight, written and counted in small chunks.</summary>
    private static Dictionary<string, string?> SlowedRun(TestDatabase database, StandInServer standIn, int users)
    {
        var settings = Settings(database);
        settings["DemoData:UsersOnEmptyDatabase"] = users.ToString(CultureInfo.InvariantCulture);
        settings["AssetRefresh:MaxConcurrency"] = "2";
        settings["AssetRefresh:WriteChunkSize"] = "2";
        settings["AssetRefresh:MaxWriteDelay"] = "00:00:00.050";
        settings["Batch:ProgressInterval"] = TimeSpan.FromMilliseconds(ProgressIntervalMs).ToString("c", CultureInfo.InvariantCulture);
        settings["Extension:BaseUrl"] = standIn.Url;
        settings["Auth:BaseUrl"] = standIn.Url;
        settings["Auth:ClientSecret"] = StandInServer.ClientSecret;
        return settings;
    }

    private static Dictionary<string, string?> Settings(TestDatabase database) => new()
    {
        ["Database:Provider"] = database.Provider.ToString(),
        ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
    };

    [GeneratedRegex(@"\u001b(\[[0-9;?]*[A-Za-z]|[=>])")]
    private static partial Regex AnsiSequence();
}
