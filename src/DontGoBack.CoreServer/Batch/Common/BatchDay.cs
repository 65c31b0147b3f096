using System.Globalization;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>
/// A batch day is the calendar date in the batch's time zone at the moment of firing,
/// never the server's local zone: 2025-08-09T18:30Z is already 2025-08-10 in Seoul.
/// </summary>
public static class BatchDay
{
    public static DateOnly At(DateTimeOffset instant, TimeZoneInfo zone) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(instant, zone).DateTime);

    public static DateOnly Today(TimeProvider time, TimeZoneInfo zone) => At(time.GetUtcNow(), zone);

    /// <summary>Parses a day as every API and command takes it: YYYY-MM-DD, nothing else.</summary>
    public static bool TryParse(string? text, out DateOnly day) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day);
}
