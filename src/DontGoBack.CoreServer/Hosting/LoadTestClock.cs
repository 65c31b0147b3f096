using System.Globalization;
using DontGoBack.CoreServer.Cli;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// The system clock moved by LoadTest:ClockOffset, for the chaos campaign (bench/chaos.sh): a replica started
/// with an offset lives on the campaign's day, so the daily cron fires for it as it would in production, and one
/// replica can run minutes ahead of the others. Only the wall clock moves: timestamps (elapsed time, delays) are
/// the system's, so timeouts and backoffs keep their real length. Registered in the container, so Quartz's
/// scheduler (its cron fires, misfires and cluster check-ins) reads the same clock as the engine.
/// </summary>
public sealed class LoadTestClock(TimeSpan offset) : TimeProvider
{
    public TimeSpan Offset => offset;

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + offset;

    public override TimeZoneInfo LocalTimeZone => System.LocalTimeZone;

    public override long TimestampFrequency => System.TimestampFrequency;

    public override long GetTimestamp() => System.GetTimestamp();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        System.CreateTimer(callback, state, dueTime, period);

    /// <summary>The system clock, or the system clock moved by a LoadTest:ClockOffset that is set and not zero.</summary>
    public static TimeProvider From(IConfiguration configuration)
    {
        var key = $"{LoadTestOptions.SectionName}:{nameof(LoadTestOptions.ClockOffset)}";
        if (configuration[key] is not { Length: > 0 } text)
            return System;
        // Read here, before options exist: the clock is needed by everything that validates them.
        if (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var offset) || offset.Duration() > MaxOffset)
        {
            throw new Microsoft.Extensions.Options.OptionsValidationException(LoadTestOptions.SectionName, typeof(LoadTestOptions),
                [$"{key} is '{text}', which is not a time span of at most {MaxOffset.TotalDays:0} days either way (d.hh:mm:ss, negative allowed)."]);
        }
        return offset == TimeSpan.Zero ? System : new LoadTestClock(offset);
    }

    /// <summary>Ten years: the campaign's days lie within a few years of today; more is a typo.</summary>
    public static readonly TimeSpan MaxOffset = TimeSpan.FromDays(3_653);
}
