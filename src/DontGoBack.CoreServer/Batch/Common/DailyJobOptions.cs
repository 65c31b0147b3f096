using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>The settings every daily job has in its own section; a job's options class derives from this.</summary>
public abstract class DailyJobOptions : IValidatableObject
{
    /// <summary>When false the cron trigger does not fire (nor catch-up at start-up); the manual trigger and the CLI still work.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Quartz cron (seconds first) in <see cref="TimeZone"/>.</summary>
    public string Cron { get; set; } = "0 0 3 * * ?";

    /// <summary>IANA or Windows zone id that defines both the fire time and the day; every job uses the same one (see <see cref="BatchCalendar"/>).</summary>
    public string TimeZone { get; set; } = "Asia/Seoul";

    /// <summary>
    /// Local time in <see cref="TimeZone"/> by which each day's run should be through; past it the
    /// day is overdue (the job's health check turns Degraded). Must be after the day's first fire.
    /// </summary>
    public TimeOnly CompleteBy { get; set; } = new(6, 0);

    /// <summary>
    /// The share of a day's users that must come out with their day done (refreshed or already
    /// there) for the day to count as through by its deadline; below it the day is alerted.
    /// </summary>
    public double MinSuccessRatio { get; set; } = 0.999;

    /// <summary>The section, for messages that name the setting.</summary>
    protected abstract string Section { get; }

    public virtual IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!CronExpression.TryParse(Cron, out _))
            yield return new ValidationResult($"{Section}:Cron '{Cron}' is not a valid Quartz cron expression.", [nameof(Cron)]);
        else if (FirstFireOfDay() is { } fire && CompleteBy <= fire)
            yield return new ValidationResult(
                $"{Section}:CompleteBy {CompleteBy:HH:mm:ss} is not after the day's first fire at {fire:HH:mm:ss} ({Section}:Cron); a day cannot be due before it starts.",
                [nameof(CompleteBy)]);
        if (!(MinSuccessRatio is >= 0 and <= 1))
            yield return new ValidationResult($"{Section}:MinSuccessRatio {MinSuccessRatio} must be between 0 and 1.", [nameof(MinSuccessRatio)]);
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out _))
            yield return new ValidationResult($"{Section}:TimeZone '{TimeZone}' is not a known time zone.", [nameof(TimeZone)]);
    }

    /// <summary>
    /// What can only be judged on the clock: a cron that parses but never fires again from
    /// <paramref name="now"/> (30 February, a year gone by). Quartz would refuse its trigger as the
    /// scheduler starts, with a stack trace; this names the setting instead.
    /// </summary>
    public IEnumerable<string> ValidateAt(DateTimeOffset now)
    {
        if (!CronExpression.TryParse(Cron, out _) || !TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out var zone))
            yield break;
        if (new CronExpression(Cron, zone).GetNextValidTimeAfter(now) is null)
            yield return $"{Section}:Cron '{Cron}' never fires after {TimeZoneInfo.ConvertTime(now, zone):yyyy-MM-dd HH:mm} in {TimeZone}: no such day comes again.";
    }

    /// <summary>The local time of the cron's first fire on a day it fires (null if it never does), as the deadline is compared with it.</summary>
    private TimeOnly? FirstFireOfDay()
    {
        // Any week will do: the time of day does not depend on the date, only whether it fires does.
        var monday = new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var cron = new CronExpression(Cron, TimeZoneInfo.Utc);
        for (var day = monday; day < monday.AddDays(7); day = day.AddDays(1))
        {
            if (cron.GetNextValidTimeAfter(day.AddTicks(-1)) is { } fire && fire < day.AddDays(1))
                return TimeOnly.FromTimeSpan(fire.TimeOfDay);
        }
        return null;
    }
}

/// <summary>The clock-bound checks of a daily job's settings (<see cref="DailyJobOptions.ValidateAt"/>), on the injected clock.</summary>
public sealed class DailyJobOptionsClockValidator<TOptions>(TimeProvider time) : IValidateOptions<TOptions>
    where TOptions : DailyJobOptions
{
    public ValidateOptionsResult Validate(string? name, TOptions options) =>
        options.ValidateAt(time.GetUtcNow()).ToList() is [_, ..] failures ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
}
