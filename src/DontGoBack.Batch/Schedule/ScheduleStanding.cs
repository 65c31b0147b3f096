using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Schedule;

/// <summary>A job that owes one run per day on a cron in the batch zone, and the local time by which each day should be through.</summary>
/// <param name="MinSuccessRatio">The share of a day's users that must be done for a day through to count as on time.</param>
/// <param name="Section">The job's options section, to name its settings to operators.</param>
/// <param name="Calendar">The batch calendar, which reads the cron and the deadline in the batch zone.</param>
public sealed record DailySchedule(
    string Job, bool Enabled, string Cron, TimeOnly CompleteBy, double MinSuccessRatio, string Section, BatchCalendar Calendar)
{
    public string CompleteBySetting => $"{Section}:{nameof(DailyJobOptions.CompleteBy)}";

    /// <summary>The deadline's time of day as operators read it, to the second only when it has seconds.</summary>
    public string CompleteByText => CompleteBy.ToString(CompleteBy.Second == 0 ? "HH:mm" : "HH:mm:ss");

    public string MinSuccessRatioSetting => $"{Section}:{nameof(DailyJobOptions.MinSuccessRatio)}";

    /// <summary>The instant a day's run should be through by: the day at <see cref="CompleteBy"/> in the batch zone.</summary>
    public DateTimeOffset DeadlineOf(DateOnly day) => Calendar.At(day, CompleteBy);

    /// <summary>The cron's next fire instants after <paramref name="after"/>, in the batch zone.</summary>
    public IReadOnlyList<DateTimeOffset> NextFires(DateTimeOffset after, int count) => Calendar.NextFires(Cron, after, count);

    /// <summary>Whether the cron fires at all on that day (a weekday-only cron owes no Saturday).</summary>
    public bool FiresOn(DateOnly day) => FirstFireOn(day) is not null;

    /// <summary>The cron's first fire on that day; null when it does not fire that day.</summary>
    public DateTimeOffset? FirstFireOn(DateOnly day) => Calendar.FirstFireOn(Cron, day);
}

/// <summary>Where one day of a daily job stands: the one judgement the health check, the alerts and the console all read.</summary>
public enum DayState
{
    /// <summary>The schedule owes nothing for the day and no run started: the cron does not fire on it, the schedule is off, or it fired before the install kept the schedule.</summary>
    NotDue,
    /// <summary>Not started, and the deadline is ahead.</summary>
    Waiting,
    /// <summary>Running, at a rate that gets it through before the deadline.</summary>
    OnTrack,
    /// <summary>Running too slowly for the deadline, or stopped (failed, aborted) with the deadline still ahead, or on a day the schedule does not owe.</summary>
    AtRisk,
    /// <summary>Owed, past the deadline and not through.</summary>
    Late,
    /// <summary>Through, with at least the job's MinSuccessRatio of its users done: the only state that is good news.</summary>
    Through,
    /// <summary>Through, but fewer of its users done than the job's MinSuccessRatio asks.</summary>
    ThroughBelowRatio,
    /// <summary>Through without a user to do: owes nothing, and is no work to call good.</summary>
    ThroughNothingToDo,
}

/// <summary>The one spelling of a day's state where programs read it (the health check's data).</summary>
public static class DayStateText
{
    public static string ToText(this DayState state) => state switch
    {
        DayState.NotDue => "not_due",
        DayState.Waiting => "waiting",
        DayState.OnTrack => "on_track",
        DayState.AtRisk => "at_risk",
        DayState.Late => "late",
        DayState.Through => "through",
        DayState.ThroughBelowRatio => "through_below_success_ratio",
        DayState.ThroughNothingToDo => "through_nothing_to_do",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };
}

/// <summary>One day of a daily job as it stands at an instant, with its run if it has one.</summary>
/// <param name="SuccessRatio">The share of the day's users done, once through; null when it had none to do.</param>
public sealed record DayStanding(DateOnly Day, DayState State, BatchRun? Run, DateTimeOffset Deadline, double? SuccessRatio)
{
    /// <summary>
    /// Judges one day. Through is the run's own word (<see cref="BatchRun.IsThrough"/>, whatever through-status it has), and
    /// good only with users done at the job's success ratio; <paramref name="owed"/> says whether the schedule owes the day
    /// (see <see cref="DueDays"/>); <paramref name="eta"/> is a running run's expected end, when known.
    /// </summary>
    public static DayStanding Judge(DailySchedule schedule, DateOnly day, BatchRun? run, bool owed, DateTimeOffset? eta, DateTimeOffset now)
    {
        var deadline = schedule.DeadlineOf(day);
        if (ThroughState(run, schedule.MinSuccessRatio) is { } through)
            return new DayStanding(day, through, run, deadline, RatioOf(run!));
        // Today counts as coming while its fire is ahead; a fire that has passed unowed (before the install kept the schedule) is not.
        var coming = schedule.Enabled && day == schedule.Calendar.DayOf(now) && schedule.FirstFireOn(day) is { } fire && fire > now;
        var state = (run, due: owed || coming) switch
        {
            (null, due: false) => DayState.NotDue,
            (_, due: true) when now >= deadline => DayState.Late,
            (null, due: true) => DayState.Waiting,
            // The deadline makes a slow run at risk only on a day the schedule owes.
            ({ Status: BatchRunStatus.Running }, var due) => due && eta is { } end && end > deadline ? DayState.AtRisk : DayState.OnTrack,
            _ => DayState.AtRisk,
        };
        return new DayStanding(day, state, run, deadline, null);
    }

    /// <summary>How a day through stands by its success ratio; null when the run is not through (or there is none).</summary>
    public static DayState? ThroughState(BatchRun? run, double minSuccessRatio) => run switch
    {
        { IsThrough: true } when RatioOf(run) is null => DayState.ThroughNothingToDo,
        { IsThrough: true } when RatioOf(run) < minSuccessRatio => DayState.ThroughBelowRatio,
        { IsThrough: true } => DayState.Through,
        _ => null,
    };

    // A day through that had no user to do (no ids at all, or every account opened later: NothingToDo) has no ratio:
    // nothing done is not good news either.
    private static double? RatioOf(BatchRun run) => run.Total == 0 || run.Status == BatchRunStatus.NothingToDo ? null : run.DoneRatio;

    /// <summary>What the day breaches now that alerts are raised for: only once its deadline has passed.</summary>
    public DeadlineCondition? Breach(DateTimeOffset now) => now < Deadline ? null : State switch
    {
        DayState.Late => DeadlineCondition.Overdue,
        DayState.ThroughBelowRatio => DeadlineCondition.LowSuccessRatio,
        _ => null,
    };
}

/// <summary>How a daily job stands against its schedule at one instant.</summary>
/// <param name="Behind">Days owed within the catch-up window whose deadline has passed, oldest first.</param>
/// <param name="Skipped">Owed days older than Batch:MaxCatchUpDays: the schedule no longer runs them by itself.</param>
/// <param name="LastThrough">The latest day that went through, and when.</param>
/// <param name="Days">Today and every day of the catch-up window that is owed or has a run, oldest first, each as it stands.</param>
/// <param name="Breaches">Days within the catch-up window whose deadline passed and that are not as they should be: what is alerted.</param>
public sealed record ScheduleStanding(
    DailySchedule Schedule, DateTimeOffset At, DateOnly Today, DateTimeOffset TodayDeadline, DueDaysResult Owed, IReadOnlyList<DateOnly> Behind,
    IReadOnlyList<DateOnly> Skipped, DayThrough? LastThrough, IReadOnlyList<DayStanding> Days, IReadOnlyList<DeadlineBreach> Breaches)
{
    /// <summary>Every owed day past its deadline, skipped ones included.</summary>
    public int DaysBehind => Behind.Count + Skipped.Count;

    /// <summary>Today as it stands.</summary>
    public DayStanding TodayStanding => Days.Single(d => d.Day == Today);

    /// <summary>Days through with too many users failed, whether or not their deadline has passed yet.</summary>
    public IEnumerable<DayStanding> BelowRatio => Days.Where(d => d.State == DayState.ThroughBelowRatio);

    /// <summary>Any day as it stands now, judged like <see cref="Days"/>; <paramref name="run"/> is the day's run, if it has one.</summary>
    public DayStanding Judge(DateOnly day, BatchRun? run, DateTimeOffset? eta = null) =>
        DayStanding.Judge(Schedule, day, run, Owed.Owes(day), eta, At);

    /// <summary>What is wrong, worst first, as the health check says it and the console shows it; empty when healthy.</summary>
    public IReadOnlyList<string> Problems(int maxCatchUpDays)
    {
        var problems = new List<string>();
        if (Skipped.Count > 0)
        {
            problems.Add($"{Skipped.Count} owed days from {Skipped[0]:yyyy-MM-dd} to {Skipped[^1]:yyyy-MM-dd} are older than "
                         + $"Batch:MaxCatchUpDays ({maxCatchUpDays}) and are not run by the schedule; `backfill` or the manual trigger runs them.");
        }
        if (Behind.Count > 0)
            problems.Add($"{DaysText(Behind)} past the deadline ({Schedule.CompleteBySetting} {Schedule.CompleteByText} in {Schedule.Calendar.ZoneId}) and not through.");
        if (BelowRatio.ToList() is [_, ..] low)
        {
            var worst = low.MinBy(d => d.SuccessRatio)!.Run!;
            problems.Add($"{DaysText(low.ConvertAll(d => d.Day))} through with too many users failed: {worst.Day:yyyy-MM-dd} has {worst.DoneRatio:P2} done "
                         + $"({worst.Failed} of {worst.Total} failed), below {Schedule.MinSuccessRatioSetting} {Schedule.MinSuccessRatio:P2}; `retry-failed` runs the failed users again.");
        }
        return problems;
    }

    private static string DaysText(IReadOnlyList<DateOnly> days) => days.Count == 1
        ? $"{days[0]:yyyy-MM-dd} is"
        : $"{days.Count} days from {days[0]:yyyy-MM-dd} to {days[^1]:yyyy-MM-dd} are";
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
    /// <summary>
    /// Whether an alert raised for the condition still holds for the day's run as it stands now (null: the day has no run):
    /// overdue until the day is through, low success ratio until it is through at its ratio, by <see cref="DayStanding.ThroughState"/>.
    /// </summary>
    public static bool Holds(DeadlineCondition condition, BatchRun? run, double minSuccessRatio) => condition switch
    {
        DeadlineCondition.Overdue => DayStanding.ThroughState(run, minSuccessRatio) is null,
        DeadlineCondition.LowSuccessRatio => DayStanding.ThroughState(run, minSuccessRatio) is null or DayState.ThroughBelowRatio,
        _ => throw new ArgumentOutOfRangeException(nameof(condition), condition, null),
    };
}

/// <summary>
/// Reads a daily job's standing from its run history, once per reader: what the health check reports, the alerts raise and
/// resolve, the schedule metrics show, and the console's overview card and run page draw.
/// </summary>
public sealed class ScheduleStandingReader(DueDays dueDays, BatchRunLedger ledger, IOptions<BatchOptions> options, TimeProvider time)
{
    /// <param name="todayEta">Today's running run's expected end, when the caller knows it (the console): running late is at risk.</param>
    public async Task<ScheduleStanding> ReadAsync(DailySchedule schedule, CancellationToken cancellationToken, DateTimeOffset? todayEta = null)
    {
        var now = time.GetUtcNow();
        var today = schedule.Calendar.DayOf(now);
        var todayDeadline = schedule.DeadlineOf(today);
        // The runner's own answer: a day owed here is one the start-up catch-up and the next fire run, and no other.
        var due = schedule.Enabled
            ? await dueDays.FindAsync(schedule.Job, schedule.Cron, firedDay: null, cancellationToken)
            : new DueDaysResult([], []);
        var behind = due.ToRun.Where(day => schedule.DeadlineOf(day) <= now).ToList();
        var lastThrough = await ledger.LastThroughAsync(schedule.Job, cancellationToken);

        // The window the schedule still runs by itself is the one alerts watch; older days are Skipped, reported above.
        var runs = (await ledger.ListAsync(schedule.Job, today.AddDays(-options.Value.MaxCatchUpDays), today, cancellationToken))
            .ToDictionary(r => r.Day);
        var days = due.ToRun.Concat(runs.Keys).Append(today).Distinct().Order()
            .Select(day => DayStanding.Judge(schedule, day, runs.GetValueOrDefault(day), due.ToRun.Contains(day),
                day == today ? todayEta : null, now))
            .ToList();
        var breaches = days.Select(d => d.Breach(now) is { } condition ? new DeadlineBreach(d.Day, condition, d.Run) : null)
            .OfType<DeadlineBreach>().ToList();
        return new ScheduleStanding(schedule, now, today, todayDeadline, due, behind, due.TooOld, lastThrough, days, breaches);
    }
}
