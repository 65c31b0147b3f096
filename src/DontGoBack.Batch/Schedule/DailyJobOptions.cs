using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Schedule;

/// <summary>
/// The settings every daily job has in its own section; a job's options class derives from this. Times of day are
/// read in the batch zone, Batch:TimeZone, the same for every job (<see cref="BatchCalendar"/>).
/// </summary>
public abstract class DailyJobOptions : IValidatableObject
{
    /// <summary>When false the cron trigger does not fire (nor catch-up at start-up); the manual trigger and the CLI still work.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Quartz cron (seconds first) in the batch zone.</summary>
    public string Cron { get; set; } = "0 0 3 * * ?";

    /// <summary>
    /// Local time in the batch zone by which each day's run should be through; past it the
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
        if (!BatchCalendar.IsCron(Cron))
            yield return new ValidationResult($"{Section}:Cron '{Cron}' is not a valid Quartz cron expression.", [nameof(Cron)]);
        else if (BatchCalendar.FirstFireTimeOfDay(Cron) is { } fire && CompleteBy <= fire)
            yield return new ValidationResult(
                $"{Section}:CompleteBy {CompleteBy:HH:mm:ss} is not after the day's first fire at {fire:HH:mm:ss} ({Section}:Cron); a day cannot be due before it starts.",
                [nameof(CompleteBy)]);
        if (!(MinSuccessRatio is >= 0 and <= 1))
            yield return new ValidationResult($"{Section}:MinSuccessRatio {MinSuccessRatio} must be between 0 and 1.", [nameof(MinSuccessRatio)]);
    }

    /// <summary>
    /// What can only be judged on the calendar's clock: a cron that parses but never fires again from
    /// now (30 February, a year gone by). Quartz would refuse its trigger as the scheduler starts,
    /// with a stack trace; this names the setting instead.
    /// </summary>
    public IEnumerable<string> ValidateAt(BatchCalendar calendar, DateTimeOffset now)
    {
        if (!BatchCalendar.IsCron(Cron))
            yield break;
        if (calendar.NextFire(Cron, now) is null)
            yield return $"{Section}:Cron '{Cron}' never fires after {calendar.LocalTime(now):yyyy-MM-dd HH:mm} in {calendar.ZoneId}: no such day comes again.";
    }
}

/// <summary>The clock-bound checks of a daily job's settings (<see cref="DailyJobOptions.ValidateAt"/>), on the batch calendar.</summary>
public sealed class DailyJobOptionsClockValidator<TOptions>(IOptions<BatchOptions> batch, TimeProvider time) : IValidateOptions<TOptions>
    where TOptions : DailyJobOptions
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        // The calendar as the host makes it, from the Batch section. Made here rather than injected: while that section is
        // wrong (an unknown Batch:TimeZone) it cannot be made, and this job's own settings must still be checked and named;
        // the section's own lines say what is wrong with it, and the cron is judged once it is put right.
        BatchCalendar calendar;
        try
        {
            calendar = new BatchCalendar(time, batch);
        }
        catch (OptionsValidationException)
        {
            return ValidateOptionsResult.Skip;
        }
        return options.ValidateAt(calendar, time.GetUtcNow()).ToList() is [_, ..] failures ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }
}

/// <summary>
/// Settings a daily job's section no longer reads. Left in place they would be ignored without a word (a job's own
/// TimeZone, now Batch:TimeZone for every job), so start-up refuses them, saying what to set instead.
/// </summary>
public sealed class DailyJobRetiredSettingsValidator<TOptions>(IConfiguration configuration, string section) : IValidateOptions<TOptions>
    where TOptions : DailyJobOptions
{
    public ValidateOptionsResult Validate(string? name, TOptions options) => configuration.GetSection(section)["TimeZone"] is not null
        ? ValidateOptionsResult.Fail(
            $"{section}:TimeZone is no longer a setting: every batch counts its days in one zone, so set Batch:TimeZone instead and remove {section}:TimeZone.")
        : ValidateOptionsResult.Success;
}
