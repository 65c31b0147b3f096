namespace DontGoBack.Batch.Runs;

public sealed record BatchRunFailure(long UserId, string FailureClass, string Reason, int Attempts, DateTimeOffset FailedAt);

public sealed record BatchRunFailurePage(int Page, int PageSize, int TotalCount, IReadOnlyList<BatchRunFailure> Items);

/// <summary>What to look for among a day's failures; every part left out matches all.</summary>
/// <param name="ReasonContains">Text the reason contains, letter case ignored.</param>
public sealed record FailureSearch(long? UserId = null, string? FailureClass = null, string? ReasonContains = null)
{
    public const int MaxReasonLength = 200;
}

/// <param name="TotalCount">Failures matching the search, on every page.</param>
/// <param name="NextAfter">The user id to continue after for the next page; null on the last.</param>
public sealed record FailureSearchPage(IReadOnlyList<BatchRunFailure> Items, int TotalCount, long? NextAfter);

/// <summary>
/// A domain batch's per-user failures of a day, so the run history can show them whatever the domain. Registered with
/// its job (<see cref="BatchEngineExtensions.AddDailyJob{TJob, TOptions, TFailures}"/>) and found through <see cref="BatchJobs"/>.
/// </summary>
public interface IBatchRunFailures
{
    /// <summary>The failure classes this job records, as <see cref="BatchRunFailure.FailureClass"/> spells them.</summary>
    IReadOnlyList<string> FailureClasses { get; }

    Task<BatchRunFailurePage> PageAsync(DateOnly day, int page, int pageSize, CancellationToken cancellationToken);

    /// <summary>A page of the day's failures matching <paramref name="search"/>, by user id after <paramref name="afterUserId"/> (keyset, so any page costs the same).</summary>
    Task<FailureSearchPage> SearchAsync(DateOnly day, FailureSearch search, long? afterUserId, int pageSize, CancellationToken cancellationToken);
}
