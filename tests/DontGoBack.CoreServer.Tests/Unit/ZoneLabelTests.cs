
using DontGoBack.Batch.Schedule;

namespace DontGoBack.CoreServer.Tests.Unit;

/// <summary>The one rule that labels a time's zone: a known abbreviation, in summer its summer one, else the UTC offset then.</summary>
public sealed class ZoneLabelTests
{
    private static readonly DateTimeOffset Winter = new(2026, 1, 15, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Summer = new(2026, 7, 15, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("Asia/Seoul", "KST", "KST")]
    [InlineData("UTC", "UTC", "UTC")]
    [InlineData("Etc/UTC", "UTC", "UTC")]
    [InlineData("America/New_York", "EST", "EDT")]
    [InlineData("Europe/Berlin", "CET", "CEST")]
    [InlineData("Europe/London", "GMT", "BST")]
    [InlineData("Australia/Sydney", "AEDT", "AEST")]
    // No abbreviation in the table (Kathmandu has none, Shanghai's CST is also Chicago's): the offset, with its half hours.
    [InlineData("Asia/Kathmandu", "UTC+05:45", "UTC+05:45")]
    [InlineData("Asia/Shanghai", "UTC+08:00", "UTC+08:00")]
    [InlineData("America/St_Johns", "UTC-03:30", "UTC-02:30")]
    public void A_zone_is_labelled_by_its_abbreviation_else_its_offset_at_the_instant(string zoneId, string inJanuary, string inJuly)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);

        Assert.Equal((inJanuary, inJuly), (ZoneLabel.Of(zone, Winter), ZoneLabel.Of(zone, Summer)));
    }

    [Fact]
    public void A_time_is_written_in_the_zone_followed_by_its_label()
    {
        var seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
        var fire = new DateTimeOffset(2025, 8, 10, 18, 0, 0, TimeSpan.Zero);

        Assert.Equal("2025-08-11 03:00:00 KST", ZoneLabel.Format(fire, seoul));
        Assert.Equal("03:00:00 KST", ZoneLabel.Format(fire, seoul, ZoneLabel.TimePattern));
        // The label is the one in force at the instant: New York's changes with its clocks.
        var newYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        Assert.Equal("2026-03-08 01:59:59 EST", ZoneLabel.Format(new DateTimeOffset(2026, 3, 8, 6, 59, 59, TimeSpan.Zero), newYork));
        Assert.Equal("2026-03-08 03:00:00 EDT", ZoneLabel.Format(new DateTimeOffset(2026, 3, 8, 7, 0, 0, TimeSpan.Zero), newYork));
    }
}
