using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.User;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>America/New_York at 02:30: a time missing on the spring-forward day and single on the fall-back day.</summary>
public sealed class DaylightSavingTests
{
    private const string Cron = "0 30 2 * * ?";
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
    private static readonly BatchCalendar NewYorkCalendar = TestCalendar.In("America/New_York");

    [Theory]
    [InlineData("2026-03-06", "2026-03-09")]
    [InlineData("2026-10-30", "2026-11-02")]
    public void The_cron_fires_once_on_each_calendar_day_across_the_change(string from, string to)
    {
        var (first, last) = (DateOnly.Parse(from), DateOnly.Parse(to));
        var cron = new CronExpression(Cron, NewYork);
        var fireDays = new List<DateOnly>();
        DateTimeOffset? at = new DateTimeOffset(first.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        while ((at = cron.GetNextValidTimeAfter(at!.Value)) is { } fire && NewYorkCalendar.DayOf(fire) <= last)
            fireDays.Add(NewYorkCalendar.DayOf(fire));

        Assert.Equal(Enumerable.Range(0, last.DayNumber - first.DayNumber + 1).Select(first.AddDays), fireDays);
    }

    [Fact]
    public async Task Batch_TimeZone_is_the_zone_of_every_jobs_fire_times_and_of_the_day()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Batch:TimeZone"] = "America/New_York", ["AssetRefresh:Cron"] = Cron, ["AssetRefresh:Enabled"] = "true", ["UserDormancy:Enabled"] = "true",
        });
        // 2025-08-10T00:00Z (CoreServerApp.DefaultNow, which Quartz reads too): 20:00 on the 9th in New York (EDT), already 09:00 on the 10th in Seoul.
        var client = app.CreateClient();
        var edt = TimeSpan.FromHours(-4);

        var schedules = (await client.GetFromJsonAsync<JsonElement>("/internal/batch/schedules")).EnumerateArray()
            .ToDictionary(s => s.GetProperty("job").GetString()!, s => s);
        Assert.All(schedules.Values, s => Assert.Equal("America/New_York", s.GetProperty("timeZone").GetString()));
        Assert.Equal(new DateTimeOffset(2025, 8, 10, 2, 30, 0, edt), schedules[AssetRefreshJob.Name].GetProperty("nextFires")[0].GetProperty("local").GetDateTimeOffset());
        Assert.Equal(new DateTimeOffset(2025, 8, 10, 2, 0, 0, edt), schedules[UserDormancyJob.Name].GetProperty("nextFires")[0].GetProperty("local").GetDateTimeOffset());
        // Quartz's trigger fires in the same zone.
        var scheduler = await app.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var trigger = await scheduler.GetTrigger(AssetRefreshJob.Definition.CronKey);
        Assert.Equal(new DateTimeOffset(2025, 8, 10, 2, 30, 0, edt), trigger!.GetFireTimeAfter(CoreServerApp.DefaultNow));
        // Today is New York's: the 9th runs, the 10th has not begun.
        Assert.Equal(new DateOnly(2025, 8, 9), (await client.RunDayAsync(new DateOnly(2025, 8, 9))).Day);
        var tomorrow = await client.PostAsync($"{RefreshRuns.Path}?day=2025-08-10", null);
        Assert.Equal(HttpStatusCode.BadRequest, tomorrow.StatusCode);
        Assert.Contains("Today is 2025-08-09 in America/New_York; 2025-08-10 has not begun.", await tomorrow.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("2026-03-06", "2026-03-09T12:00:00Z")]
    [InlineData("2026-10-30", "2026-11-02T12:00:00Z")]
    public async Task Catch_up_runs_each_calendar_day_exactly_once(string lastRun, string now)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var settings = new Dictionary<string, string?>
        {
            // Every batch counts days in one zone, the batch zone.
            ["Batch:TimeZone"] = "America/New_York", ["AssetRefresh:Cron"] = Cron,
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
