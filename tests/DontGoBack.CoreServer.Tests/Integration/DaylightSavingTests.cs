using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>America/New_York at 02:30: a time missing on the spring-forward day and single on the fall-back day.</summary>
public sealed class DaylightSavingTests
{
    private const string Cron = "0 30 2 * * ?";
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    [Theory]
    [InlineData("2026-03-06", "2026-03-09")]
    [InlineData("2026-10-30", "2026-11-02")]
    public void The_cron_fires_once_on_each_calendar_day_across_the_change(string from, string to)
    {
        var (first, last) = (DateOnly.Parse(from), DateOnly.Parse(to));
        var cron = new CronExpression(Cron, NewYork);
        var fireDays = new List<DateOnly>();
        DateTimeOffset? at = new DateTimeOffset(first.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        while ((at = cron.GetNextValidTimeAfter(at!.Value)) is { } fire && BatchDay.At(fire, NewYork) <= last)
            fireDays.Add(BatchDay.At(fire, NewYork));

        Assert.Equal(Enumerable.Range(0, last.DayNumber - first.DayNumber + 1).Select(first.AddDays), fireDays);
    }

    [Theory]
    [InlineData("2026-03-06", "2026-03-09T12:00:00Z")]
    [InlineData("2026-10-30", "2026-11-02T12:00:00Z")]
    public async Task Catch_up_runs_each_calendar_day_exactly_once(string lastRun, string now)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var settings = new Dictionary<string, string?>
        {
            // Every batch counts days in one zone.
            ["AssetRefresh:TimeZone"] = "America/New_York", ["UserDormancy:TimeZone"] = "America/New_York", ["AssetRefresh:Cron"] = Cron,
        };
        var firstDay = DateOnly.Parse(lastRun);
        long user;
        await using (var before = new CoreServerApp(database, settings))
        {
            // The job ran on its own day (midday in New York): the schedule owes the days since.
            before.Time.Now = DateTimeOffset.Parse($"{lastRun}T17:00:00Z");
            var client = before.CreateClient();
            user = await before.AddUserAsync(AccountStatus.Active, (firstDay.AddDays(-1), 1_000_000));
            await client.RunDayAsync(firstDay);
        }

        var days = new List<DateOnly>();
        for (var start = 0; start < 2; start++)
        {
            await using var app = new CoreServerApp(database, settings);
            app.Time.Now = DateTimeOffset.Parse(now);
            app.CreateClient();
            await using var scope = app.Services.CreateAsyncScope();
            var results = await scope.ServiceProvider.GetRequiredService<DailyJobRunner<AssetRefreshJob>>().RunDueDaysAsync(null, CancellationToken.None);
            days.AddRange(results.Select(r => r.Day));
        }

        // The first start runs the three owed days, the second finds nothing owed.
        Assert.Equal(Enumerable.Range(1, 3).Select(firstDay.AddDays), days);
        await using var db = database.CreateContext();
        var runs = await db.BatchRuns.AsNoTracking().OrderBy(r => r.Day).ToListAsync();
        Assert.Equal(Enumerable.Range(0, 4).Select(firstDay.AddDays), runs.Select(r => r.Day));
        Assert.All(runs, r => Assert.Equal(1, r.Attempts));
        Assert.Equal(4, await db.DailyAssetSnapshots.CountAsync(s => s.UserId == user && s.SnapshotDay >= firstDay));
    }
}
