using System.Globalization;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The CLI's time rule, run as the operator runs it: times in the batch zone, each labelled, unless `--zone` names another;
/// a zone the machine does not know is a usage error in one line, before anything is touched.
/// </summary>
public sealed class CliZoneTests : IDisposable
{
    private static readonly TimeZoneInfo Seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
    private readonly string _workingDirectory = Directory.CreateTempSubdirectory("dontgoback-cli-zone-").FullName;

    public void Dispose() => Directory.Delete(_workingDirectory, recursive: true);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Runs_shows_its_times_in_the_batch_zone_labelled_and_in_another_zone_when_asked(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = database.Provider.ToString(), ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
            ["DemoData:UsersOnEmptyDatabase"] = "5",
        };
        var refresh = await CoreServerProcess.RunAsync(settings, ["refresh"], _workingDirectory);
        Assert.True(refresh.ExitCode == 0, refresh.Output);
        DateTimeOffset started, finished;
        await using (var db = database.CreateContext())
            (started, finished) = await db.BatchRuns.AsNoTracking().Select(r => new ValueTuple<DateTimeOffset, DateTimeOffset>(r.StartedAt, r.FinishedAt!.Value)).SingleAsync();

        var inBatchZone = await RunsAsync(settings, []);
        Assert.Equal((Format(started, Seoul, "KST"), Format(finished, Seoul, "KST")), inBatchZone.Cells("Asia/Seoul"));

        var inNewYork = await RunsAsync(settings, ["--zone", "America/New_York"]);
        Assert.Equal((Format(started, NewYork, NewYork.IsDaylightSavingTime(started) ? "EDT" : "EST"),
            Format(finished, NewYork, NewYork.IsDaylightSavingTime(finished) ? "EDT" : "EST")), inNewYork.Cells("America/New_York"));
        // (Zones labelled by their offset, UTC and summer time: ZoneLabelTests; each process start costs seconds.)
    }

    [Theory]
    [InlineData("Mars/Olympus_Mons")]
    [InlineData("")]
    [InlineData("../../etc/passwd")]
    public async Task A_zone_the_machine_does_not_know_exits_2_with_one_line_and_touches_nothing(string zone)
    {
        var cli = await CoreServerProcess.RunAsync(new Dictionary<string, string?>(), ["runs", "--zone", zone], _workingDirectory);

        Assert.True(cli.ExitCode == 2, cli.Output);
        Assert.Empty(cli.StandardOutput);
        Assert.Equal(
            $"--zone '{zone}' is not a time zone this machine knows; give an IANA id such as Asia/Seoul, Europe/Berlin or UTC.",
            Assert.Single(cli.StandardError, line => line.Contains("--zone", StringComparison.Ordinal) && !line.StartsWith("See ", StringComparison.Ordinal)));
        Assert.False(Directory.Exists(Path.Combine(_workingDirectory, "data")), "the data folder was created");
    }

    [Fact]
    public async Task Help_of_runs_says_times_are_in_the_batch_zone_unless_zone_names_another()
    {
        var cli = await CoreServerProcess.RunAsync(new Dictionary<string, string?>(), ["runs", "--help"], _workingDirectory);

        Assert.True(cli.ExitCode == 0, cli.Output);
        var help = string.Join(" ", cli.StandardOutput.Select(line => line.Trim()));
        Assert.Contains("--zone", help);
        Assert.Contains("default: the batch zone", help);
    }

    private async Task<RunsTable> RunsAsync(Dictionary<string, string?> settings, string[] zone)
    {
        var cli = await CoreServerProcess.RunAsync(settings, ["runs", .. zone], _workingDirectory);
        Assert.True(cli.ExitCode == 0, cli.Output);
        return new RunsTable(cli.StandardOutput);
    }

    private static string Format(DateTimeOffset instant, TimeZoneInfo zone, string label) =>
        $"{TimeZoneInfo.ConvertTime(instant, zone).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} {label}";

    /// <summary>The markdown table `runs` prints, read by its headings: other columns may come and go.</summary>
    private sealed record RunsTable(IReadOnlyList<string> Lines)
    {
        public (string Started, string Finished) Cells(string zoneId)
        {
            var headings = Lines[0].Split('|', StringSplitOptions.TrimEntries);
            var row = Assert.Single(Lines.Skip(2)).Split('|', StringSplitOptions.TrimEntries);
            int Column(string name) => Array.IndexOf(headings, $"{name} ({zoneId})") is var at and >= 0 ? at : throw new Xunit.Sdk.XunitException(
                $"no column '{name} ({zoneId})' in: {Lines[0]}");
            return (row[Column("started")], row[Column("finished")]);
        }
    }
}
