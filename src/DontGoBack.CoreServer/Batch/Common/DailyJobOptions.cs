using System.ComponentModel.DataAnnotations;
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

    /// <summary>The section, for messages that name the setting.</summary>
    protected abstract string Section { get; }

    public virtual IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!CronExpression.TryParse(Cron, out _))
            yield return new ValidationResult($"{Section}:Cron '{Cron}' is not a valid Quartz cron expression.", [nameof(Cron)]);
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out _))
            yield return new ValidationResult($"{Section}:TimeZone '{TimeZone}' is not a known time zone.", [nameof(TimeZone)]);
    }
}
