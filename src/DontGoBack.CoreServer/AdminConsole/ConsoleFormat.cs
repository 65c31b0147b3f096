using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using System.Globalization;

namespace DontGoBack.CoreServer.AdminConsole;

/// <summary>
/// How the console writes times, counts and statuses: times in the batch zone, as operators think of the day,
/// each labelled with the zone (<see cref="ZoneLabel"/>), e.g. "11:08:02 KST".
/// </summary>
public static class ConsoleFormat
{
    public static string Time(DateTimeOffset instant, TimeZoneInfo zone) => ZoneLabel.Format(instant, zone, ZoneLabel.TimePattern);

    public static string DateTime(DateTimeOffset instant, TimeZoneInfo zone) => ZoneLabel.Format(instant, zone);

    public static string DateTime(DateTimeOffset? instant, TimeZoneInfo zone) => instant is { } at ? DateTime(at, zone) : "–";

    public static string Utc(DateTimeOffset instant) =>
        instant.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string Duration(DateTimeOffset start, DateTimeOffset? end) => end is { } finished ? Duration(finished - start) : "–";

    /// <summary>A day's time spent working: the sum of its attempts' durations.</summary>
    public static string Working(RunDayView day) => Duration(TimeSpan.FromMilliseconds(day.WorkingMs));

    public static string Duration(TimeSpan span) =>
        span.TotalHours >= 1 ? $"{(int)span.TotalHours} h {span.Minutes:00} min"
        : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes} min {span.Seconds:00} s"
        : $"{span.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s";

    /// <summary>The status's CSS class and text; one spelling, the same as the API's.</summary>
    public static string StatusClass(BatchRunStatus? status) => status switch
    {
        BatchRunStatus.Completed => "ok",
        BatchRunStatus.CompletedWithFailures => "warn",
        BatchRunStatus.Failed => "bad",
        BatchRunStatus.Aborted => "bad",
        BatchRunStatus.Running => "run",
        // Neutral, never green: the day is owed no more, but no work was done.
        BatchRunStatus.NothingToDo => "nothing",
        _ => "none",
    };

    /// <summary>A day's standing as the pill says it; "through" alone only when the day is through at its success ratio.</summary>
    public static string StandingText(DayState state) => state switch
    {
        DayState.NotDue => "not due",
        DayState.Waiting => "waiting",
        DayState.OnTrack => "on track",
        DayState.AtRisk => "at risk",
        DayState.Late => "late",
        DayState.Through => "through",
        DayState.ThroughBelowRatio => "through, below success ratio",
        DayState.ThroughNothingToDo => "through, nothing to do",
        _ => state.ToString(),
    };

    /// <summary>Green for a day through at its success ratio and for nothing else.</summary>
    public static string StandingClass(DayState state) => state switch
    {
        DayState.Through => "ok",
        DayState.OnTrack => "run",
        DayState.AtRisk or DayState.ThroughBelowRatio => "warn",
        DayState.Late => "bad",
        _ => "none",
    };

    public static bool TryParseStatus(string? text, out BatchRunStatus status)
    {
        foreach (var candidate in Enum.GetValues<BatchRunStatus>())
        {
            if (candidate.ToText() == text)
            {
                status = candidate;
                return true;
            }
        }
        status = default;
        return false;
    }
}
