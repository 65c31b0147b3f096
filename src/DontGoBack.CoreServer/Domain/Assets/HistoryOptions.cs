using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>The lifecycle of the asset history: how long daily rows and change rows are kept, and how they go.</summary>
public sealed class HistoryOptions
{
    public const string SectionName = "History";

    /// <summary>
    /// Months of daily snapshots kept, counting the month of the day the lifecycle runs for; each older
    /// month is rolled into one row per user (<c>asset_month_rollups</c>) and its daily rows go. At least two:
    /// on the first of a month a late retry or back-fill of the month before must still find it daily.
    /// </summary>
    [Range(2, 1_200, ErrorMessage = "History:KeepDailyMonths must be 2 to 1200: the months of daily snapshots kept, counting the current one.")]
    public int KeepDailyMonths { get; set; } = 25;

    /// <summary>
    /// Days of change history (<c>asset_changes</c>: openings, rewards, penalties, corrections, re-bases) kept
    /// before the day the lifecycle runs for; unset keeps every change of the months still kept daily. An
    /// idempotency key is remembered only as long as its change is kept.
    /// </summary>
    [Range(1, 36_500, ErrorMessage = "History:ChangeRetentionDays must be 1 to 36500 days, or unset to keep the change history.")]
    public int? ChangeRetentionDays { get; set; }

    /// <summary>Rows per DELETE statement, each its own transaction, so letting history go never holds a long lock or one huge WAL burst.</summary>
    [Range(1, 1_000_000, ErrorMessage = "History:DeleteBatchSize must be 1 to 1000000 rows per DELETE.")]
    public int DeleteBatchSize { get; set; } = 10_000;

    /// <summary>
    /// Where a month's daily rows are written before they go (<see cref="HistoryArchive"/>): per month, each table's rows as
    /// gzip-compressed CSV and a manifest. Unset (or blank): no archive. A relative path is taken from the content root (the
    /// settings then hold the full path); the directory is created when missing.
    /// </summary>
    public string? ArchiveDirectory { get; set; }

    /// <summary>The archive directory as a full path: relative to <paramref name="contentRoot"/> when relative; null when unset or blank.</summary>
    public static string? ResolveArchiveDirectory(string? configured, string contentRoot) =>
        string.IsNullOrWhiteSpace(configured) ? null
        : configured.Contains('\0', StringComparison.Ordinal) ? configured // refused by the validator, not resolved
        : Path.GetFullPath(configured, contentRoot);
}

/// <summary>
/// <see cref="HistoryOptions.ArchiveDirectory"/> must be somewhere a directory can be: a path that is a file is refused at start,
/// not when the first month would go. A directory missing or not writable is found by the run that writes (it fails, naming it).
/// </summary>
public sealed class ArchiveDirectoryValidator : IValidateOptions<HistoryOptions>
{
    private const string Setting = $"{HistoryOptions.SectionName}:{nameof(HistoryOptions.ArchiveDirectory)}";

    public ValidateOptionsResult Validate(string? name, HistoryOptions options) => options.ArchiveDirectory switch
    {
        null => ValidateOptionsResult.Success,
        var path when path.Contains('\0', StringComparison.Ordinal) =>
            ValidateOptionsResult.Fail($"{Setting} contains a NUL character: name a directory, or leave it unset to keep no archive."),
        var path when File.Exists(path) =>
            ValidateOptionsResult.Fail($"{Setting} {path} is a file: name a directory (it is created when missing) for the archive of the months let go, or leave it unset to keep no archive."),
        _ => ValidateOptionsResult.Success,
    };
}

/// <summary>
/// The settings that moved from <c>AssetHistory</c> to <see cref="HistoryOptions.SectionName"/>. Left in place they
/// would be ignored without a word (a retention the operator set would silently stop), so start-up refuses each,
/// naming the key that replaces it.
/// </summary>
public sealed class RetiredAssetHistorySettingsValidator(IConfiguration configuration) : IValidateOptions<HistoryOptions>
{
    public const string RetiredSection = "AssetHistory";

    private static readonly Dictionary<string, string> Successors = new(StringComparer.OrdinalIgnoreCase)
    {
        ["RetentionDays"] = $"{HistoryOptions.SectionName}:{nameof(HistoryOptions.ChangeRetentionDays)}",
        ["DeleteBatchSize"] = $"{HistoryOptions.SectionName}:{nameof(HistoryOptions.DeleteBatchSize)}",
    };

    public ValidateOptionsResult Validate(string? name, HistoryOptions options)
    {
        var failures = configuration.GetSection(RetiredSection).GetChildren()
            .Select(setting => Successors.TryGetValue(setting.Key, out var successor)
                ? $"{RetiredSection}:{setting.Key} is no longer a setting: set {successor} instead and remove {RetiredSection}:{setting.Key}."
                : $"{RetiredSection}:{setting.Key} is no longer a setting: the history's settings are in the {HistoryOptions.SectionName} section; remove {RetiredSection}:{setting.Key}.")
            .ToList();
        return failures.Count > 0 ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }
}
