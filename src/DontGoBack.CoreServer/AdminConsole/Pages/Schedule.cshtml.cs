using DontGoBack.CoreServer.Batch.Common;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace DontGoBack.CoreServer.AdminConsole.Pages;

/// <summary>Each registered job's cron, zone, deadline and next fire times, in the zone and in UTC (read-only).</summary>
public sealed class ScheduleModel(BatchJobs jobs, BatchCalendar calendar, TimeProvider time) : PageModel
{
    public const int NextFires = 5;

    public IReadOnlyList<(DailyJobDefinition Job, DailySchedule Schedule, IReadOnlyList<DateTimeOffset> Fires)> Jobs { get; private set; } = [];

    public void OnGet()
    {
        var now = time.GetUtcNow();
        Jobs = jobs.All.Select(j =>
        {
            var schedule = j.Describe(calendar);
            return (j.Definition, schedule, ConsoleReader.NextFires(schedule, now, NextFires));
        }).ToList();
    }
}
