using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Common;

/// <param name="ToRun">Days to run now, oldest first.</param>
/// <param name="TooOld">Missed days beyond Batch:MaxCatchUpDays: reported, not run.</param>
public sealed record DueDaysResult(IReadOnlyList<DateOnly> ToRun, IReadOnlyList<DateOnly> TooOld);

/// <summary>
/// Which days a daily job owes. A day is due once its cron fire time has passed and it has no
/// run that went through. Days come from the cron's own fire instants in the job's zone, so a
/// daylight-saving day still yields exactly one day: on the spring-forward day a 02:30 that
/// does not exist fires when the clock jumps to 03:00, and on the fall-back day a repeated
/// local time fires only at its first occurrence.
/// Owed days start on the day (in the batch zone) the job first ran on this database, whatever day
/// that run was for: a fresh install does not back-run a week, and a day long past run by hand
/// (the manual trigger, `refresh --day`, `backfill`) owes nothing after it. Were they counted from
/// the earliest day ever run, one back-fill of last year would make every day since owed: hundreds
/// of days reported missing, a week of them run by the next trigger.
/// </summary>
public sealed class DueDays(BatchRunLedger ledger, BatchCalendar calendar, IOptions<BatchOptions> options, TimeProvider time)
{
    /// <summary>How far back missed days are looked for and reported.</summary>
    public const int ReportWindowDays = 366;

    /// <param name="firedDay">The day a trigger just fired for: due even on a fresh install.</param>
    public async Task<DueDaysResult> FindAsync(
        string job, string cron, DateOnly? firedDay, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var today = calendar.DayOf(now);
        var firstStarted = await ledger.FirstStartedAtAsync(job, cancellationToken);
        // A day just fired for is owed even if the first run began after it (a fire just before midnight).
        var owedFrom = (firstStarted, firedDay) switch
        {
            ({ } started, { } day) => Min(calendar.DayOf(started), day),
            ({ } started, null) => calendar.DayOf(started),
            (null, { } day) => day,
            _ => today.AddDays(1),
        };
        var catchUpFrom = today.AddDays(-options.Value.MaxCatchUpDays);
        var lookFrom = Max(owedFrom, today.AddDays(-ReportWindowDays));

        var firedDays = FiredDays(cron, lookFrom, now);
        if (firedDay is { } fired)
            firedDays.Add(fired);
        var completed = await ledger.CompletedDaysAsync(job, lookFrom, today, cancellationToken);
        var missed = firedDays.Where(d => d >= owedFrom && !completed.Contains(d)).Order().ToList();
        return new DueDaysResult(missed.Where(d => d >= catchUpFrom).ToList(), missed.Where(d => d < catchUpFrom).ToList());
    }

    private SortedSet<DateOnly> FiredDays(string cron, DateOnly from, DateTimeOffset now)
    {
        var expression = new CronExpression(cron, calendar.Zone);
        var days = new SortedSet<DateOnly>();
        // One probe per day: the first fire at or after each day's local midnight.
        for (var fire = expression.GetNextValidTimeAfter(calendar.StartOf(from).AddTicks(-1));
             fire is { } at && at <= now;
             fire = expression.GetNextValidTimeAfter(calendar.StartOf(calendar.DayOf(at).AddDays(1)).AddTicks(-1)))
        {
            days.Add(calendar.DayOf(at));
        }
        return days;
    }

    private static DateOnly Max(DateOnly a, DateOnly b) => a > b ? a : b;

    private static DateOnly Min(DateOnly a, DateOnly b) => a < b ? a : b;
}
