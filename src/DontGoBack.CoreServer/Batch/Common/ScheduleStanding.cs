using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>A job that owes one run per day on a cron in a zone, and the local time by which each day should be through.</summary>
/// <param name="MinSuccessRatio">The share of a day's users that must be done for a day through to count as on time.</param>
/// <param name="Section">The job's options section, to name its settings to operators.</param>
public sealed record DailySchedule(
    string Job, bool Enabled, string Cron, TimeZoneInfo Zone, TimeOnly CompleteBy, double MinSuccessRatio, string Section)
{
    public string CompleteBySetting => $"{Section}:{nameof(DailyJobOptions.CompleteBy)}";

    /// <summary>The deadline's time of day as operators read it, to the second only when it has seconds.</summary>
    public string CompleteByText => CompleteBy.ToString(CompleteBy.Second == 0 ? "HH:mm" : "HH:mm:ss");

    public string MinSuccessRatioSetting => $"{Section}:{nameof(DailyJobOptions.MinSuccessRatio)}";

    /// <summary>The instant a day's run should be through by: the day at <see cref="CompleteBy"/> in the zone.</summary>
    public DateTimeOffset DeadlineOf(DateOnly day)
    {
        var local = day.ToDateTime(CompleteBy);
        // A deadline inside the spring-forward gap falls when the clock jumps past it.
        while (Zone.IsInvalidTime(local))
            local = local.AddMinutes(30);
        return new DateTimeOffset(local, Zone.GetUtcOffset(local));
    }

    /// <summary>The cron's next fire instants after <paramref name="after"/>, in the zone.</summary>
    public IReadOnlyList<DateTimeOffset> NextFires(DateTimeOffset after, int count)
    {
        var cron = new CronExpression(Cron, Zone);
        var fires = new List<DateTimeOffset>(count);
        for (var at = after; fires.Count < count && cron.GetNextValidTimeAfter(at) is { } next; at = next)
            fires.Add(TimeZoneInfo.ConvertTime(next, Zone));
        return fires;
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
/// <param name="Breaches">Days within the catch-up window whose deadline passed and that are not as they should be: what is alerted.</param>
public sealed record ScheduleStanding(
    DateOnly Today, DateTimeOffset TodayDeadline, IReadOnlyList<DateOnly> Behind, IReadOnlyList<DateOnly> Skipped, DayThrough? LastThrough,
    IReadOnlyList<DeadlineBreach> Breaches)
{
    /// <summary>Every owed day past its deadline, skipped ones included.</summary>
    public int DaysBehind => Behind.Count + Skipped.Count;

    /// <summary>Days through by their deadline but with too many users failed.</summary>
    public IEnumerable<DeadlineBreach> LowSuccess => Breaches.Where(b => b.Condition == DeadlineCondition.LowSuccessRatio);
}

/// <summary>What is wrong with a day once its deadline has passed.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DeadlineCondition>))]
public enum DeadlineCondition
{
    /// <summary>Not through: no run started, still running, or stopped (failed, aborted).</summary>
    [JsonStringEnumMemberName("overdue")] Overdue,
    /// <summary>Through, but fewer users done than the job's MinSuccessRatio asks.</summary>
    [JsonStringEnumMemberName("low_success_ratio")] LowSuccessRatio,
}

/// <summary>A day past its deadline under <paramref name="Condition"/>, with its run if it has one.</summary>
public sealed record DeadlineBreach(DateOnly Day, DeadlineCondition Condition, BatchRun? Run)
{
    /// <summary>Whether the condition still holds for the day's run as it stands now (null: the day has no run).</summary>
    public static bool Holds(DeadlineCondition condition, BatchRun? run, double minSuccessRatio) => condition switch
    {
        DeadlineCondition.Overdue => run is null || !run.IsThrough,
        DeadlineCondition.LowSuccessRatio => run is null || !run.IsThrough || run.DoneRatio < minSuccessRatio,
        _ => throw new ArgumentOutOfRangeException(nameof(condition), condition, null),
    };
}

/// <summary>Reads a daily job's standing from its run history: what the health check reports and the schedule metrics show.</summary>
public sealed class ScheduleStandingReader(DueDays dueDays, BatchRunLedger ledger, IOptions<BatchOptions> options, TimeProvider time)
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

        // The window the schedule still runs by itself is the one alerts watch; older days are Skipped, reported above.
        var runs = (await ledger.ListAsync(schedule.Job, today.AddDays(-options.Value.MaxCatchUpDays), today, cancellationToken))
            .ToDictionary(r => r.SnapshotDay);
        var breaches = behind.Select(day => new DeadlineBreach(day, DeadlineCondition.Overdue, runs.GetValueOrDefault(day)))
            .Concat(runs.Values
                .Where(run => run.IsThrough && run.DoneRatio < schedule.MinSuccessRatio && schedule.DeadlineOf(run.SnapshotDay) <= now)
                .Select(run => new DeadlineBreach(run.SnapshotDay, DeadlineCondition.LowSuccessRatio, run)))
            .OrderBy(b => b.Day).ToList();
        return new ScheduleStanding(today, todayDeadline, behind, due.TooOld, lastThrough, breaches);
    }
}
