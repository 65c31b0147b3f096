using Quartz;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>A job that owes one run per day on a cron in a zone, and the local time by which each day should be through.</summary>
/// <param name="CompleteBySetting">The setting that holds <paramref name="CompleteBy"/>, to name it to operators.</param>
public sealed record DailySchedule(string Job, bool Enabled, string Cron, TimeZoneInfo Zone, TimeOnly CompleteBy, string CompleteBySetting)
{
    /// <summary>The instant a day's run should be through by: the day at <see cref="CompleteBy"/> in the zone.</summary>
    public DateTimeOffset DeadlineOf(DateOnly day)
    {
        var local = day.ToDateTime(CompleteBy);
        // A deadline inside the spring-forward gap falls when the clock jumps past it.
        while (Zone.IsInvalidTime(local))
            local = local.AddMinutes(30);
        return new DateTimeOffset(local, Zone.GetUtcOffset(local));
    }

    /// <summary>Whether the cron fires at all on that day in the zone (a weekday-only cron owes no Saturday).</summary>
    public bool FiresOn(DateOnly day)
    {
        var midnight = day.ToDateTime(TimeOnly.MinValue);
        var start = new DateTimeOffset(midnight, Zone.GetUtcOffset(midnight));
        return new CronExpression(Cron, Zone).GetNextValidTimeAfter(start.AddTicks(-1)) is { } fire
               && BatchDay.At(fire, Zone) == day;
    }
}

/// <summary>How a daily job stands against its schedule at one instant.</summary>
/// <param name="Behind">Days owed within the catch-up window whose deadline has passed, oldest first.</param>
/// <param name="Skipped">Owed days older than Batch:MaxCatchUpDays: the schedule no longer runs them by itself.</param>
/// <param name="LastThrough">The latest day that went through, and when.</param>
public sealed record ScheduleStanding(
    DateOnly Today, DateTimeOffset TodayDeadline, IReadOnlyList<DateOnly> Behind, IReadOnlyList<DateOnly> Skipped, DayThrough? LastThrough)
{
    /// <summary>Every owed day past its deadline, skipped ones included.</summary>
    public int DaysBehind => Behind.Count + Skipped.Count;
}

/// <summary>Reads a daily job's standing from its run history: what the health check reports and the schedule metrics show.</summary>
public sealed class ScheduleStandingReader(DueDays dueDays, BatchRunLedger ledger, TimeProvider time)
{
    public async Task<ScheduleStanding> ReadAsync(DailySchedule schedule, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var today = BatchDay.At(now, schedule.Zone);
        var todayDeadline = schedule.DeadlineOf(today);
        // Today counts as owed once its deadline has passed even if the job never ran anywhere
        // (a fresh install whose scheduler is dead is behind too), but only if the cron fires today.
        var todayOverdue = now >= todayDeadline && schedule.FiresOn(today) ? today : (DateOnly?)null;
        var due = await dueDays.FindAsync(schedule.Job, schedule.Cron, todayOverdue, cancellationToken);
        var behind = due.ToRun.Where(day => schedule.DeadlineOf(day) <= now).ToList();
        var lastThrough = await ledger.LastThroughAsync(schedule.Job, cancellationToken);
        return new ScheduleStanding(today, todayDeadline, behind, due.TooOld, lastThrough);
    }
}
