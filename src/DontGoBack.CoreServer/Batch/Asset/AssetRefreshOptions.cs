using System.ComponentModel.DataAnnotations;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Asset;

public sealed class AssetRefreshOptions : IValidatableObject
{
    public const string SectionName = "AssetRefresh";

    /// <summary>When false the scheduler does not fire; the manual trigger still works.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Quartz cron (seconds first) in <see cref="TimeZone"/>.</summary>
    public string Cron { get; set; } = "0 0 3 * * ?";

    /// <summary>IANA or Windows zone id that defines both the fire time and the snapshot day.</summary>
    public string TimeZone { get; set; } = "Asia/Seoul";

    /// <summary>
    /// Local time in <see cref="TimeZone"/> by which each day's run should be through; past it the
    /// day is overdue (the job's health check turns Degraded). Must be after the day's fire time.
    /// </summary>
    public TimeOnly CompleteBy { get; set; } = new(6, 0);

    /// <summary>Extension calls in flight at once.</summary>
    [Range(1, 4096, ErrorMessage = "AssetRefresh:MaxConcurrency must be between {1} and {2}.")]
    public int MaxConcurrency { get; set; } = 64;

    /// <summary>Active users read per keyset page.</summary>
    [Range(1, 100_000, ErrorMessage = "AssetRefresh:PageSize must be between {1} and {2}.")]
    public int PageSize { get; set; } = 2_000;

    /// <summary>Results written per database transaction.</summary>
    [Range(1, 10_000, ErrorMessage = "AssetRefresh:WriteChunkSize must be between {1} and {2}.")]
    public int WriteChunkSize { get; set; } = 1_000;

    /// <summary>Longest time an answer waits in memory for its chunk to fill before it is written anyway.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00", ErrorMessage = "AssetRefresh:MaxWriteDelay must be between {1} and {2}.")]
    public TimeSpan MaxWriteDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Base amount of a user with no snapshot before the day, in KRW.</summary>
    [Range(0, long.MaxValue, ErrorMessage = "AssetRefresh:StartAmount must be between {1} and {2}.")]
    public long StartAmount { get; set; } = 10_000_000;

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

    // A method, not a property: options validation reads every property, and this one throws for an unknown zone.
    public TimeZoneInfo ResolveZone() => TimeZoneInfo.FindSystemTimeZoneById(TimeZone);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!CronExpression.TryParse(Cron, out _))
            yield return new ValidationResult($"AssetRefresh:Cron '{Cron}' is not a valid Quartz cron expression.", [nameof(Cron)]);
        else if (FirstFireOfDay() is { } fire && CompleteBy <= fire)
            yield return new ValidationResult(
                $"AssetRefresh:CompleteBy {CompleteBy:HH:mm:ss} is not after the day's first fire at {fire:HH:mm:ss} (AssetRefresh:Cron); a day cannot be due before it starts.",
                [nameof(CompleteBy)]);
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out _))
            yield return new ValidationResult($"AssetRefresh:TimeZone '{TimeZone}' is not a known time zone.", [nameof(TimeZone)]);
    }
}
