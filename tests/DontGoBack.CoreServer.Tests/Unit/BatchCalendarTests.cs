using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Schedule;
using Microsoft.Extensions.Time.Testing;

namespace DontGoBack.CoreServer.Tests.Unit;

/// <summary>The one calendar's arithmetic: days, midnights, deadlines and cron fires in the batch zone, Seoul (no daylight saving) and Berlin on its change days.</summary>
public sealed class BatchCalendarTests
{
    private static readonly BatchCalendar Seoul = TestCalendar.In("Asia/Seoul");
    private static readonly BatchCalendar NewYork = TestCalendar.In("America/New_York");
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z). 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00Z).
    private static readonly BatchCalendar Berlin = TestCalendar.In("Europe/Berlin");
    private static readonly DateOnly SpringForward = new(2026, 3, 29);
    private static readonly DateOnly FallBack = new(2026, 10, 25);

    private static DateTimeOffset Utc(int year, int month, int day, int hour, int minute, int second = 0) =>
        new(year, month, day, hour, minute, second, TimeSpan.Zero);

    [Fact]
    public void Fire_at_18_30_utc_is_the_next_day_in_Seoul() =>
        Assert.Equal(new DateOnly(2025, 8, 10), Seoul.DayOf(Utc(2025, 8, 9, 18, 30)));

    [Fact]
    public void One_minute_before_Seoul_midnight_is_still_the_same_day() =>
        Assert.Equal(new DateOnly(2025, 8, 9), Seoul.DayOf(Utc(2025, 8, 9, 14, 59)));

    [Fact]
    public void Fifteen_hundred_utc_is_Seoul_midnight_and_the_next_day()
    {
        Assert.Equal(new DateOnly(2025, 8, 10), Seoul.DayOf(Utc(2025, 8, 9, 15, 0)));
        Assert.Equal(Utc(2025, 8, 9, 15, 0), Seoul.StartOf(new DateOnly(2025, 8, 10)));
        Assert.Equal(TimeSpan.Zero, Seoul.StartOf(new DateOnly(2025, 8, 10)).Offset);
    }

    [Fact]
    public void The_offset_the_instant_is_written_in_does_not_matter()
    {
        // The same instant as 2025-08-09T18:30Z, written in Los Angeles time.
        var written = new DateTimeOffset(2025, 8, 9, 11, 30, 0, TimeSpan.FromHours(-7));

        Assert.Equal(new DateOnly(2025, 8, 10), Seoul.DayOf(written));
    }

    [Theory]
    // Summer (EDT, UTC-4): midnight is 04:00Z.
    [InlineData("2025-08-10T03:59:59Z", "2025-08-09")]
    [InlineData("2025-08-10T04:00:00Z", "2025-08-10")]
    // Winter (EST, UTC-5): midnight is 05:00Z.
    [InlineData("2025-01-10T04:59:59Z", "2025-01-09")]
    [InlineData("2025-01-10T05:00:00Z", "2025-01-10")]
    // The spring-forward day still starts at local midnight, 05:00Z.
    [InlineData("2025-03-09T04:59:59Z", "2025-03-08")]
    [InlineData("2025-03-09T05:00:00Z", "2025-03-09")]
    public void New_York_days_turn_over_at_local_midnight(string instant, string expected) =>
        Assert.Equal(DateOnly.Parse(expected), NewYork.DayOf(DateTimeOffset.Parse(instant)));

    [Fact]
    public void Today_reads_the_time_provider_in_the_batch_zone_not_the_local_zone()
    {
        var time = new FakeTimeProvider(Utc(2025, 8, 9, 14, 59));
        // The "server" is in New York; the batch day must still be Seoul's.
        time.SetLocalTimeZone(TimeZoneInfo.FindSystemTimeZoneById("America/New_York"));
        var (seoul, newYork) = (TestCalendar.In("Asia/Seoul", time), TestCalendar.In("America/New_York", time));

        Assert.Equal(new DateOnly(2025, 8, 9), seoul.Today);

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(new DateOnly(2025, 8, 10), seoul.Today);
        Assert.Equal(new DateOnly(2025, 8, 9), newYork.Today);

        time.Advance(TimeSpan.FromHours(3.5));
        Assert.Equal(new DateOnly(2025, 8, 10), seoul.Today);
    }

    [Theory]
    // Around the midnights of the spring-forward day (23 hours long: its midnight is CET, the next one CEST).
    [InlineData("2026-03-28T22:59:59Z", "2026-03-28")]
    [InlineData("2026-03-28T23:00:00Z", "2026-03-29")]
    [InlineData("2026-03-29T00:59:59Z", "2026-03-29")] // 01:59:59 CET, just before the jump
    [InlineData("2026-03-29T01:00:00Z", "2026-03-29")] // 03:00 CEST, just after it
    [InlineData("2026-03-29T21:59:59Z", "2026-03-29")]
    [InlineData("2026-03-29T22:00:00Z", "2026-03-30")]
    // Around the midnights of the fall-back day (25 hours long: its midnight is CEST, the next one CET).
    [InlineData("2026-10-24T21:59:59Z", "2026-10-24")]
    [InlineData("2026-10-24T22:00:00Z", "2026-10-25")]
    [InlineData("2026-10-25T00:30:00Z", "2026-10-25")] // 02:30 CEST, the first showing
    [InlineData("2026-10-25T01:30:00Z", "2026-10-25")] // 02:30 CET, the second
    [InlineData("2026-10-25T22:59:59Z", "2026-10-25")]
    [InlineData("2026-10-25T23:00:00Z", "2026-10-26")]
    public void Berlin_days_turn_over_at_local_midnight_on_its_change_days(string instant, string expected) =>
        Assert.Equal(DateOnly.Parse(expected), Berlin.DayOf(DateTimeOffset.Parse(instant)));

    [Fact]
    public void A_days_start_is_its_local_midnight_so_change_days_are_23_and_25_hours_long()
    {
        Assert.Equal(Utc(2026, 3, 28, 23, 0), Berlin.StartOf(SpringForward));
        Assert.Equal(TimeSpan.FromHours(23), Berlin.StartOf(SpringForward.AddDays(1)) - Berlin.StartOf(SpringForward));
        Assert.Equal(Utc(2026, 10, 24, 22, 0), Berlin.StartOf(FallBack));
        Assert.Equal(TimeSpan.FromHours(25), Berlin.StartOf(FallBack.AddDays(1)) - Berlin.StartOf(FallBack));
        Assert.Equal(TimeSpan.FromHours(24), Seoul.StartOf(new DateOnly(2026, 3, 30)) - Seoul.StartOf(new DateOnly(2026, 3, 29)));
    }

    [Fact]
    public void A_day_whose_midnight_is_shown_twice_begins_at_its_first_showing()
    {
        // The Azores fall back from 01:00 (UTC+0) to 00:00 (UTC-1) on 2026-10-25: midnight comes at 00:00Z and again at 01:00Z.
        var azores = TestCalendar.In("Atlantic/Azores");
        Assert.Equal(Utc(2026, 10, 25, 0, 0), azores.StartOf(FallBack));
        Assert.Equal(FallBack, azores.DayOf(azores.StartOf(FallBack)));
        Assert.Equal(FallBack.AddDays(-1), azores.DayOf(azores.StartOf(FallBack).AddTicks(-1)));
    }

    [Fact]
    public void A_deadline_the_clock_skips_falls_when_it_jumps_past_and_one_it_shows_twice_at_its_second_showing()
    {
        Assert.Equal(Utc(2026, 3, 29, 1, 0), Berlin.At(SpringForward, new TimeOnly(2, 30)));
        Assert.Equal(Utc(2026, 10, 25, 1, 30), Berlin.At(FallBack, new TimeOnly(2, 30)));
        Assert.Equal(Utc(2026, 3, 29, 4, 0), Berlin.At(SpringForward, new TimeOnly(6, 0)));
        Assert.Equal(Utc(2026, 10, 25, 5, 0), Berlin.At(FallBack, new TimeOnly(6, 0)));
        Assert.Equal(Utc(2025, 8, 9, 21, 0), Seoul.At(new DateOnly(2025, 8, 10), new TimeOnly(6, 0)));
        // With the zone's offset then, as deadlines are shown.
        Assert.Equal(TimeSpan.FromHours(9), Seoul.At(new DateOnly(2025, 8, 10), new TimeOnly(6, 0)).Offset);
        Assert.Equal((TimeSpan.FromHours(2), TimeSpan.FromHours(1)), (Berlin.At(SpringForward, new TimeOnly(2, 30)).Offset, Berlin.At(FallBack, new TimeOnly(2, 30)).Offset));
    }

    [Theory]
    [InlineData("2026-03-26", "2026-04-01T00:00:00Z")]
    [InlineData("2026-10-22", "2026-10-28T00:00:00Z")]
    public void A_cron_fires_once_on_each_day_across_the_change(string from, string until)
    {
        var fires = Berlin.FirstFiresOfDays("0 30 2 * * ?", DateOnly.Parse(from), DateTimeOffset.Parse(until));

        Assert.Equal(Enumerable.Range(0, 6).Select(DateOnly.Parse(from).AddDays), fires.Select(f => f.Day));
        Assert.All(fires, f => Assert.Equal(f.Day, Berlin.DayOf(f.At)));
        Assert.All(fires, f => Assert.Equal(f.At, Berlin.FirstFireOn("0 30 2 * * ?", f.Day)));
    }

    [Fact]
    public void On_the_change_days_a_skipped_fire_time_fires_after_the_jump_and_a_repeated_one_at_its_first_showing()
    {
        Assert.InRange(Berlin.FirstFireOn("0 30 2 * * ?", SpringForward)!.Value, Utc(2026, 3, 29, 1, 0), Utc(2026, 3, 29, 1, 30));
        Assert.Equal(Utc(2026, 10, 25, 0, 30), Berlin.FirstFireOn("0 30 2 * * ?", FallBack));
        // The day before and after: 02:30 CET, then 02:30 CEST (and back).
        Assert.Equal(Utc(2026, 3, 28, 1, 30), Berlin.FirstFireOn("0 30 2 * * ?", SpringForward.AddDays(-1)));
        Assert.Equal(Utc(2026, 3, 30, 0, 30), Berlin.FirstFireOn("0 30 2 * * ?", SpringForward.AddDays(1)));
        Assert.Equal(Utc(2026, 10, 26, 1, 30), Berlin.FirstFireOn("0 30 2 * * ?", FallBack.AddDays(1)));
    }

    [Fact]
    public void A_day_the_cron_does_not_fire_on_has_no_fire()
    {
        // 2025-08-09 is a Saturday.
        Assert.Null(Seoul.FirstFireOn("0 0 3 ? * MON-FRI", new DateOnly(2025, 8, 9)));
        Assert.Equal(new DateTimeOffset(2025, 8, 11, 3, 0, 0, TimeSpan.FromHours(9)), Seoul.FirstFireOn("0 0 3 ? * MON-FRI", new DateOnly(2025, 8, 11)));
    }

    [Fact]
    public void The_next_fires_come_in_order_in_the_batch_zone_and_a_cron_of_a_year_gone_by_has_none()
    {
        var fires = Seoul.NextFires("0 0 3 * * ?", Utc(2025, 8, 9, 18, 0), 3);

        Assert.Equal([Utc(2025, 8, 10, 18, 0), Utc(2025, 8, 11, 18, 0), Utc(2025, 8, 12, 18, 0)], fires);
        Assert.All(fires, f => Assert.Equal(TimeSpan.FromHours(9), f.Offset));
        Assert.Equal(Utc(2025, 8, 10, 18, 0), Seoul.NextFire("0 0 3 * * ?", Utc(2025, 8, 9, 18, 0)));
        Assert.Equal(Utc(2025, 8, 9, 18, 0), Seoul.FirstFireFrom("0 0 3 * * ?", Utc(2025, 8, 9, 18, 0)));
        Assert.Null(Seoul.NextFire("0 0 3 * * ? 2024", Utc(2025, 8, 9, 18, 0)));
        Assert.Empty(Seoul.NextFires("0 0 3 * * ? 2024", Utc(2025, 8, 9, 18, 0), 3));
    }

    [Theory]
    [InlineData("0 0 3 * * ?", "03:00")]
    [InlineData("0 30 7 ? * MON-FRI", "07:30")]
    [InlineData("0 0/15 1-4 * * ?", "01:00")]
    public void The_first_fire_time_of_a_day_does_not_depend_on_the_zone(string cron, string expected) =>
        Assert.Equal(TimeOnly.Parse(expected), BatchCalendar.FirstFireTimeOfDay(cron));

    [Theory]
    [InlineData("Asia/Seoul", true)]
    [InlineData("Europe/Berlin", true)]
    [InlineData("Korea Standard Time", true)] // a Windows id, which .NET maps to Asia/Seoul
    [InlineData("Mars/Olympus_Mons", false)]
    [InlineData("", false)]
    public void A_zone_is_found_by_its_id_or_not_at_all(string id, bool known) =>
        Assert.Equal(known, BatchCalendar.FindZone(id) is not null);
}
