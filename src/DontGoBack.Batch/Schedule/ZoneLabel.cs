using System.Globalization;

namespace DontGoBack.Batch.Schedule;

/// <summary>
/// The one time rule for people: an instant is shown in a zone and says which, e.g. "2026-12-07 11:08:02 KST".
/// .NET knows no abbreviations on Linux, and many zones have none that is unambiguous (CST is China's and
/// Chicago's, IST India's and Ireland's), so a small table names the common zones whose abbreviation is
/// well known and unique; any other zone is labelled by its UTC offset at that instant ("UTC+05:45").
/// </summary>
public static class ZoneLabel
{
    public const string DateTimePattern = "yyyy-MM-dd HH:mm:ss";
    public const string TimePattern = "HH:mm:ss";

    /// <summary>IANA id → (standard, daylight-saving) abbreviation.</summary>
    private static readonly Dictionary<string, (string Standard, string Daylight)> Known = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Asia/Seoul"] = ("KST", "KST"),
        ["Asia/Tokyo"] = ("JST", "JST"),
        ["Asia/Hong_Kong"] = ("HKT", "HKT"),
        ["Asia/Jakarta"] = ("WIB", "WIB"),
        ["Etc/UTC"] = ("UTC", "UTC"),
        ["UTC"] = ("UTC", "UTC"),
        ["Etc/UCT"] = ("UTC", "UTC"),
        ["Etc/Universal"] = ("UTC", "UTC"),
        ["Etc/Zulu"] = ("UTC", "UTC"),
        ["Universal"] = ("UTC", "UTC"),
        ["Zulu"] = ("UTC", "UTC"),
        ["Europe/London"] = ("GMT", "BST"),
        ["Europe/Lisbon"] = ("WET", "WEST"),
        ["Europe/Berlin"] = ("CET", "CEST"),
        ["Europe/Paris"] = ("CET", "CEST"),
        ["Europe/Madrid"] = ("CET", "CEST"),
        ["Europe/Rome"] = ("CET", "CEST"),
        ["Europe/Amsterdam"] = ("CET", "CEST"),
        ["Europe/Brussels"] = ("CET", "CEST"),
        ["Europe/Vienna"] = ("CET", "CEST"),
        ["Europe/Zurich"] = ("CET", "CEST"),
        ["Europe/Stockholm"] = ("CET", "CEST"),
        ["Europe/Oslo"] = ("CET", "CEST"),
        ["Europe/Copenhagen"] = ("CET", "CEST"),
        ["Europe/Warsaw"] = ("CET", "CEST"),
        ["Europe/Prague"] = ("CET", "CEST"),
        ["Europe/Athens"] = ("EET", "EEST"),
        ["Europe/Helsinki"] = ("EET", "EEST"),
        ["Europe/Bucharest"] = ("EET", "EEST"),
        ["Europe/Kyiv"] = ("EET", "EEST"),
        ["America/New_York"] = ("EST", "EDT"),
        ["America/Toronto"] = ("EST", "EDT"),
        ["America/Chicago"] = ("CST", "CDT"),
        ["America/Denver"] = ("MST", "MDT"),
        ["America/Phoenix"] = ("MST", "MST"),
        ["America/Los_Angeles"] = ("PST", "PDT"),
        ["America/Vancouver"] = ("PST", "PDT"),
        ["America/Anchorage"] = ("AKST", "AKDT"),
        ["Pacific/Honolulu"] = ("HST", "HST"),
        ["Australia/Sydney"] = ("AEST", "AEDT"),
        ["Australia/Melbourne"] = ("AEST", "AEDT"),
        ["Australia/Brisbane"] = ("AEST", "AEST"),
        ["Australia/Adelaide"] = ("ACST", "ACDT"),
        ["Australia/Perth"] = ("AWST", "AWST"),
        ["Pacific/Auckland"] = ("NZST", "NZDT"),
    };

    /// <summary>The zone's label at <paramref name="instant"/>: its abbreviation when the table knows it, else its UTC offset then.</summary>
    public static string Of(TimeZoneInfo zone, DateTimeOffset instant)
    {
        if (Known.TryGetValue(zone.Id, out var names)
            || (TimeZoneInfo.TryConvertWindowsIdToIanaId(zone.Id, out var iana) && Known.TryGetValue(iana, out names)))
            return zone.IsDaylightSavingTime(instant) ? names.Daylight : names.Standard;
        var offset = zone.GetUtcOffset(instant);
        return string.Create(CultureInfo.InvariantCulture, $"UTC{(offset < TimeSpan.Zero ? '-' : '+')}{offset.Duration():hh\\:mm}");
    }

    /// <summary><paramref name="instant"/> in <paramref name="zone"/> as <paramref name="pattern"/>, followed by the zone's label.</summary>
    public static string Format(DateTimeOffset instant, TimeZoneInfo zone, string pattern = DateTimePattern) =>
        $"{TimeZoneInfo.ConvertTime(instant, zone).ToString(pattern, CultureInfo.InvariantCulture)} {Of(zone, instant)}";
}
