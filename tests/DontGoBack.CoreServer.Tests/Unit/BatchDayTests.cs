using DontGoBack.CoreServer.Batch.Common;
using Microsoft.Extensions.Time.Testing;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class BatchDayTests
{
    private static readonly TimeZoneInfo Seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    private static DateTimeOffset Utc(int year, int month, int day, int hour, int minute, int second = 0) =>
        new(year, month, day, hour, minute, second, TimeSpan.Zero);

    [Fact]
    public void Fire_at_18_30_utc_is_the_next_day_in_Seoul() =>
        Assert.Equal(new DateOnly(2025, 8, 10), BatchDay.At(Utc(2025, 8, 9, 18, 30), Seoul));

    [Fact]
    public void One_minute_before_Seoul_midnight_is_still_the_same_day() =>
        Assert.Equal(new DateOnly(2025, 8, 9), BatchDay.At(Utc(2025, 8, 9, 14, 59), Seoul));

    [Fact]
    public void Fifteen_hundred_utc_is_Seoul_midnight_and_the_next_day() =>
        Assert.Equal(new DateOnly(2025, 8, 10), BatchDay.At(Utc(2025, 8, 9, 15, 0), Seoul));

    [Fact]
    public void The_offset_the_instant_is_written_in_does_not_matter()
    {
        // The same instant as 2025-08-09T18:30Z, written in Los Angeles time.
        var written = new DateTimeOffset(2025, 8, 9, 11, 30, 0, TimeSpan.FromHours(-7));

        Assert.Equal(new DateOnly(2025, 8, 10), BatchDay.At(written, Seoul));
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
        Assert.Equal(DateOnly.Parse(expected), BatchDay.At(DateTimeOffset.Parse(instant), NewYork));

    [Fact]
    public void Today_reads_the_time_provider_in_the_batch_zone_not_the_local_zone()
    {
        var time = new FakeTimeProvider(Utc(2025, 8, 9, 14, 59));
        // The "server" is in New York; the batch day must still be Seoul's.
        time.SetLocalTimeZone(NewYork);

        Assert.Equal(new DateOnly(2025, 8, 9), BatchDay.Today(time, Seoul));

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(new DateOnly(2025, 8, 10), BatchDay.Today(time, Seoul));
        Assert.Equal(new DateOnly(2025, 8, 9), BatchDay.Today(time, NewYork));

        time.Advance(TimeSpan.FromHours(3.5));
        Assert.Equal(new DateOnly(2025, 8, 10), BatchDay.Today(time, Seoul));
    }
}
