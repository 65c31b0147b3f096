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

    // A method, not a property: options validation reads every property, and this one throws for an unknown zone.
    public TimeZoneInfo ResolveZone() => TimeZoneInfo.FindSystemTimeZoneById(TimeZone);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!CronExpression.TryParse(Cron, out _))
            yield return new ValidationResult($"AssetRefresh:Cron '{Cron}' is not a valid Quartz cron expression.", [nameof(Cron)]);
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out _))
            yield return new ValidationResult($"AssetRefresh:TimeZone '{TimeZone}' is not a known time zone.", [nameof(TimeZone)]);
    }
}
