using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.Batch.Schedule;

/// <summary>
/// The one calendar: the batch zone (Batch:TimeZone) and the clock. Every day, midnight, deadline and cron fire time
/// the engine, the jobs, the endpoints and the commands use comes from here, so a day means the same everywhere:
/// a batch day is the calendar date in the batch zone, never the server's (2025-08-09T18:30Z is already 2025-08-10
/// in Seoul). Start-up refuses a Batch:EarliestDay after today (every day would be refused, and ranges that start at
/// it would end before they begin).
/// </summary>
public sealed class BatchCalendar
{
    private readonly TimeProvider _time;

    public BatchCalendar(TimeProvider time, IOptions<BatchOptions> batch)
    {
        _time = time;
        KeptSince = time.GetUtcNow();
        var options = batch.Value;
        EarliestDay = options.EarliestDay;
        ZoneId = options.TimeZone;
        // The host validates the section first (BatchZoneValidator), so this says it only for options made otherwise.
        Zone = FindZone(ZoneId) ?? throw new OptionsValidationException(BatchOptions.SectionName, typeof(BatchOptions), [BatchZoneValidator.Unknown(ZoneId)]);
        if (EarliestDay > Today)
        {
            throw new OptionsValidationException(BatchOptions.SectionName, typeof(BatchOptions),
                [$"Batch:EarliestDay {EarliestDay:yyyy-MM-dd} is after today ({Today:yyyy-MM-dd} in {ZoneId}): no day could be run or shown; set it to today or earlier."]);
        }
    }

    /// <summary>The batch zone, for formatting an instant this calendar gave (<see cref="ZoneLabel"/>) and for Quartz's trigger.</summary>
    public TimeZoneInfo Zone { get; }

    /// <summary>
    /// When this process began keeping the schedule (its calendar is made at start-up): a fire before it
    /// found no process of a fresh install running, so it owes no day (see <see cref="DueDays"/>).
    /// </summary>
    public DateTimeOffset KeptSince { get; }

    /// <summary>The zone as configured, for messages.</summary>
    public string ZoneId { get; }

    /// <summary>The earliest day any API or command accepts (Batch:EarliestDay).</summary>
    public DateOnly EarliestDay { get; }

    public DateOnly Today => DayOf(_time.GetUtcNow());

    /// <summary>The batch day of an instant, whatever offset it is written in.</summary>
    public DateOnly DayOf(DateTimeOffset instant) => DateOnly.FromDateTime(LocalTime(instant));

    /// <summary>The instant's wall-clock time in the batch zone, for messages that show it.</summary>
    public DateTime LocalTime(DateTimeOffset instant) => TimeZoneInfo.ConvertTime(instant, Zone).DateTime;

    /// <summary>The instant the day begins in the batch zone, in UTC as instants are stored and compared.</summary>
    public DateTimeOffset StartOf(DateOnly day)
    {
        var midnight = day.ToDateTime(TimeOnly.MinValue);
        // A zone that falls back at midnight shows it twice: the day begins at its first showing, under the larger offset
        // (unlike a deadline, which At reaches at the second).
        return Zone.IsAmbiguousTime(midnight)
            ? new DateTimeOffset(midnight, Zone.GetAmbiguousTimeOffsets(midnight).Max()).ToUniversalTime()
            : At(day, TimeOnly.MinValue).ToUniversalTime();
    }

    /// <summary>
    /// The instant the day reaches <paramref name="time"/> on the batch zone's clock (a deadline), with the zone's offset then,
    /// as it is shown. A time the clock skips (the spring-forward gap) is reached when the clock jumps past it; a time it
    /// shows twice (fall back) is reached at its second showing, when the day has certainly got there.
    /// </summary>
    public DateTimeOffset At(DateOnly day, TimeOnly time)
    {
        var local = day.ToDateTime(time);
        if (Zone.IsInvalidTime(local))
        {
            // Gaps start and end on the minute: the first valid minute is the one the clock jumps to.
            local = new DateTime(local.Ticks - local.Ticks % TimeSpan.TicksPerMinute);
            while (Zone.IsInvalidTime(local))
                local = local.AddMinutes(1);
        }
        return new DateTimeOffset(local, Zone.GetUtcOffset(local));
    }

    /// <summary>The cron's fires after <paramref name="after"/>, soonest first, as instants in the batch zone; at most <paramref name="count"/>.</summary>
    public IReadOnlyList<DateTimeOffset> NextFires(string cron, DateTimeOffset after, int count)
    {
        var expression = Cron(cron);
        var fires = new List<DateTimeOffset>(count);
        for (var at = after; fires.Count < count && expression.GetNextValidTimeAfter(at) is { } next; at = next)
            fires.Add(TimeZoneInfo.ConvertTime(next, Zone));
        return fires;
    }

    /// <summary>The cron's first fire after <paramref name="after"/>; null when it never fires again.</summary>
    public DateTimeOffset? NextFire(string cron, DateTimeOffset after) => Cron(cron).GetNextValidTimeAfter(after);

    /// <summary>The cron's first fire at or after <paramref name="at"/>; null when it never fires again.</summary>
    public DateTimeOffset? FirstFireFrom(string cron, DateTimeOffset at) => NextFire(cron, at.AddTicks(-1));

    /// <summary>The cron's first fire on the day in the batch zone; null when it does not fire that day (a weekday-only cron on a Saturday).</summary>
    public DateTimeOffset? FirstFireOn(string cron, DateOnly day) =>
        FirstFireFrom(cron, StartOf(day)) is { } fire && DayOf(fire) == day ? fire : null;

    /// <summary>
    /// The cron's first fire of each day from <paramref name="from"/> that has come by <paramref name="until"/>, oldest first.
    /// Days come from the fire instants themselves, so a daylight-saving day still yields exactly one: a time the spring-forward
    /// day skips fires when the clock jumps past it, and a time the fall-back day shows twice fires at its first showing.
    /// </summary>
    public IReadOnlyList<(DateOnly Day, DateTimeOffset At)> FirstFiresOfDays(string cron, DateOnly from, DateTimeOffset until)
    {
        var expression = Cron(cron);
        var days = new List<(DateOnly, DateTimeOffset)>();
        // One probe per day: the first fire at or after each day's midnight.
        for (var fire = expression.GetNextValidTimeAfter(StartOf(from).AddTicks(-1));
             fire is { } at && at <= until;
             fire = expression.GetNextValidTimeAfter(StartOf(DayOf(at).AddDays(1)).AddTicks(-1)))
        {
            days.Add((DayOf(at), at));
        }
        return days;
    }

    /// <summary>
    /// A day from outside (query, option), between Batch:EarliestDay and <paramref name="latest"/> (default today);
    /// otherwise a problem naming the parameter, and for a day that has not begun, today and the zone.
    /// </summary>
    public bool TryParseDay(string? text, string name, out DateOnly day, [NotNullWhen(false)] out string? problem, DateOnly? latest = null)
    {
        var today = Today;
        var last = latest ?? today;
        if (BatchDay.TryParseWithin(text, name, EarliestDay, last, out day, out problem))
            return true;
        if (day > last && last == today)
            problem = $"{problem} Today is {today:yyyy-MM-dd} in {ZoneId}; {day:yyyy-MM-dd} has not begun.";
        return false;
    }

    /// <summary>A zone by its IANA (or Windows) id; null when this machine's time zone database does not know it.</summary>
    public static TimeZoneInfo? FindZone(string? id) =>
        id is not null && TimeZoneInfo.TryFindSystemTimeZoneById(id, out var zone) ? zone : null;

    /// <summary>Whether the text is a Quartz cron expression (seconds first).</summary>
    public static bool IsCron(string? cron) => CronExpression.TryParse(cron, out _);

    /// <summary>
    /// The local time of the cron's first fire on a day it fires (null if it never does), as a deadline is compared with it.
    /// It does not depend on the zone: a cron names wall-clock times.
    /// </summary>
    public static TimeOnly? FirstFireTimeOfDay(string cron)
    {
        // Any week will do: the time of day does not depend on the date, only whether it fires does.
        var monday = new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var expression = new CronExpression(cron, TimeZoneInfo.Utc);
        for (var day = monday; day < monday.AddDays(7); day = day.AddDays(1))
        {
            if (expression.GetNextValidTimeAfter(day.AddTicks(-1)) is { } fire && fire < day.AddDays(1))
                return TimeOnly.FromTimeSpan(fire.TimeOfDay);
        }
        return null;
    }

    private CronExpression Cron(string cron) => new(cron, Zone);
}

/// <summary>Batch:TimeZone names a zone this machine knows: checked with the other settings on start, naming the setting.</summary>
public sealed class BatchZoneValidator : IValidateOptions<BatchOptions>
{
    public ValidateOptionsResult Validate(string? name, BatchOptions options) =>
        BatchCalendar.FindZone(options.TimeZone) is null ? ValidateOptionsResult.Fail(Unknown(options.TimeZone)) : ValidateOptionsResult.Success;

    public static string Unknown(string? zone) => $"Batch:TimeZone '{zone}' is not a known time zone.";
}
