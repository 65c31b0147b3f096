using DontGoBack.Batch.Runs;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Schedule;

/// <param name="ToRun">Days to run now, oldest first.</param>
/// <param name="TooOld">Missed days beyond Batch:MaxCatchUpDays: reported, not run.</param>
public sealed record DueDaysResult(IReadOnlyList<DateOnly> ToRun, IReadOnlyList<DateOnly> TooOld)
{
    /// <summary>Whether the schedule owes the day (to run now, or reported as too old to run by itself).</summary>
    public bool Owes(DateOnly day) => ToRun.Contains(day) || TooOld.Contains(day);
}

/// <summary>
/// Which days a daily job owes. A day is due once its cron fire time has passed and it has no
/// run that went through. Days come from the cron's own fire instants in the batch zone, so a
/// daylight-saving day still yields exactly one day (<see cref="BatchCalendar.FirstFiresOfDays"/>).
/// A fire is owed only if the install kept the schedule by then: since the earlier of the job's
/// first run on this database and this process's start. So a fresh install started after today's
/// fire owes nothing until its first fire while it runs (the start-up catch-up, the health check and
/// the alerts all read this, and agree), a day long past run by hand (the manual trigger, `refresh
/// --day`, `backfill`) owes nothing after it but the fires that follow, and the first run's own day,
/// when it ran on that day (the fire that started it, or an operator's run of today), stays owed
/// until it goes through. Were days counted from the earliest day ever run, one back-fill of last
/// year would make every day since owed: hundreds of days reported missing, a week of them run by
/// the next trigger.
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
        var firstRun = await ledger.FirstRunAsync(job, cancellationToken);
        var keptSince = firstRun is { } first && first.StartedAt < calendar.KeptSince ? first.StartedAt : calendar.KeptSince;
        // The first run's own day, run on that day: its fire came just before it (or an operator ran today); it is the job's day now.
        DateOnly? firstOwnDay = firstRun is { } run && calendar.DayOf(run.StartedAt) == run.Day ? run.Day : null;
        var catchUpFrom = today.AddDays(-options.Value.MaxCatchUpDays);
        var lookFrom = Max(calendar.DayOf(keptSince), today.AddDays(-ReportWindowDays));

        var owed = new SortedSet<DateOnly>(calendar.FirstFiresOfDays(cron, lookFrom, now)
            .Where(fire => fire.At >= keptSince || fire.Day == firstOwnDay)
            .Select(fire => fire.Day));
        // A cron that fires more than once a day owes the day it first fired on while kept, whatever its fire of the day before that.
        if (calendar.FirstFireFrom(cron, keptSince) is { } firstKept && firstKept <= now)
            owed.Add(calendar.DayOf(firstKept));
        // A day just fired for is owed even if the process started after it (a fire held back, one just before midnight).
        if (firedDay is { } fired)
            owed.Add(fired);
        if (owed.Count == 0)
            return new DueDaysResult([], []);
        var completed = await ledger.CompletedDaysAsync(job, owed.Min, today, cancellationToken);
        var missed = owed.Where(d => !completed.Contains(d)).ToList();
        return new DueDaysResult(missed.Where(d => d >= catchUpFrom).ToList(), missed.Where(d => d < catchUpFrom).ToList());
    }

    private static DateOnly Max(DateOnly a, DateOnly b) => a > b ? a : b;
}
