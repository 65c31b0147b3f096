using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>
/// The one place that knows the batch zone and the clock: today, and the day of an instant, as
/// every job, endpoint and command counts days. Every daily job's TimeZone setting must name the
/// same zone, so a day means the same everywhere; start-up refuses settings where they differ, and a
/// Batch:EarliestDay after today (every day would be refused, and ranges that start at it would end before they begin).
/// </summary>
public sealed class BatchCalendar
{
    private readonly TimeProvider _time;

    public BatchCalendar(TimeProvider time, IEnumerable<DailyJobSchedule> jobs, IOptions<BatchOptions> batch)
    {
        _time = time;
        KeptSince = time.GetUtcNow();
        EarliestDay = batch.Value.EarliestDay;
        var zones = jobs.Select(j => (Setting: $"{j.Definition.SectionName}:TimeZone", Zone: j.Settings.TimeZone)).ToList();
        if (zones.Select(z => z.Zone).Distinct(StringComparer.Ordinal).Count() > 1)
        {
            throw new OptionsValidationException(nameof(BatchCalendar), typeof(BatchCalendar),
                [$"{string.Join(", ", zones.Select(z => $"{z.Setting} '{z.Zone}'"))} differ: every batch counts its days in one zone, so set them alike."]);
        }
        ZoneId = zones.Count > 0 ? zones[0].Zone : "Asia/Seoul";
        Zone = TimeZoneInfo.FindSystemTimeZoneById(ZoneId);
        if (EarliestDay > Today)
        {
            throw new OptionsValidationException(BatchOptions.SectionName, typeof(BatchOptions),
                [$"Batch:EarliestDay {EarliestDay:yyyy-MM-dd} is after today ({Today:yyyy-MM-dd} in {ZoneId}): no day could be run or shown; set it to today or earlier."]);
        }
    }

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

    public DateOnly Today => BatchDay.At(_time.GetUtcNow(), Zone);

    public DateOnly DayOf(DateTimeOffset instant) => BatchDay.At(instant, Zone);

    /// <summary>The instant the day begins in the batch zone, in UTC as instants are stored and compared.</summary>
    public DateTimeOffset StartOf(DateOnly day)
    {
        var midnight = day.ToDateTime(TimeOnly.MinValue);
        return new DateTimeOffset(midnight, Zone.GetUtcOffset(midnight)).ToUniversalTime();
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
}
