using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// LoadTest:ClockOffset, the chaos campaign's clock (bench/chaos.sh): a server process started with it lives on the
/// day it names, and its daily cron fires for that day as it would in production; a value that is no offset is refused.
/// </summary>
public sealed class LoadTestClockTests
{
    private static readonly TimeSpan Seoul = TimeSpan.FromHours(9);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_server_on_a_load_test_clock_runs_the_day_of_that_clock_at_its_cron(DatabaseProvider provider)
    {
        await using var standIn = await StandInServer.StartAsync();
        await using var database = await TestDatabase.CreateAsync(provider);
        var day = new DateOnly(2030, 1, 15);
        var fire = new DateTimeOffset(day.ToDateTime(new TimeOnly(3, 0)), Seoul);
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = provider.ToString(),
            ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
            ["DemoData:UsersOnEmptyDatabase"] = "20",
            ["AssetRefresh:Cron"] = "0 0 3 * * ?",
            ["UserDormancy:Enabled"] = "false",
            ["Extension:BaseUrl"] = standIn.Url,
            ["Auth:BaseUrl"] = standIn.Url,
            ["Auth:ClientSecret"] = StandInServer.ClientSecret,
        };
        // The schema first (verify migrates), so the server's start is only its own.
        Assert.Equal(0, (await CoreServerProcess.RunAsync(settings, ["verify"])).ExitCode);
        // Ten seconds before the day's 03:00 fire on the process's clock, years from the real one.
        settings["LoadTest:ClockOffset"] = (fire.AddSeconds(-10) - DateTimeOffset.UtcNow).ToString("c");
        await using var server = CoreServerProcess.Start(settings);

        BatchRun? run = null;
        await Eventually.UntilAsync(async () =>
        {
            await using var db = database.CreateContext();
            run = await db.BatchRuns.AsNoTracking().SingleOrDefaultAsync(r => r.JobName == AssetRefreshJob.Name && r.Status == BatchRunStatus.Completed);
            return run is not null || server.HasExited;
        }, TimeSpan.FromSeconds(90));

        Assert.False(server.HasExited, server.Output);
        Assert.Equal(day, run!.Day);
        // Started by the fire (or, on a start slower than ten seconds, by the catch-up just after it), on the process's clock.
        Assert.InRange(run.StartedAt, fire, fire.AddMinutes(2));
        await using var check = database.CreateContext();
        // The demo accounts opened yesterday on that clock too, and each got the day's snapshot.
        Assert.Equal([day.AddDays(-1)], await check.Users.Select(u => u.OpeningDay).Distinct().ToListAsync());
        Assert.Equal(run.Total, await check.DailyAssetSnapshots.CountAsync(s => s.SnapshotDay == day));
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("4000.00:00:00")]
    public async Task A_clock_offset_that_is_no_offset_stops_the_process_with_one_line(string offset)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var command = await CoreServerProcess.RunAsync(new Dictionary<string, string?>
        {
            ["Database:Provider"] = "Sqlite",
            ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
            ["LoadTest:ClockOffset"] = offset,
        }, ["verify"]);

        Assert.Equal(2, command.ExitCode);
        var line = Assert.Single(command.StandardError, l => l.Contains("LoadTest:ClockOffset"));
        Assert.Contains($"'{offset}'", line);
        Assert.DoesNotContain(command.StandardError, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }
}
