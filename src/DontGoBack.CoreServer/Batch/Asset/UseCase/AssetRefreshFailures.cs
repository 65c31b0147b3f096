using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Runs;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Batch.Asset.UseCase;

/// <summary>The asset refresh's per-user failures of a day, for the run history.</summary>
public sealed class AssetRefreshFailures(DontGoBackDbContext db) : IBatchRunFailures
{
    public IReadOnlyList<string> FailureClasses { get; } = Enum.GetNames<FailureClass>();

    public async Task<BatchRunFailurePage> PageAsync(DateOnly day, int page, int pageSize, CancellationToken cancellationToken)
    {
        var ofDay = db.AssetRefreshFailures.AsNoTracking().Where(f => f.SnapshotDay == day);
        var items = await ofDay.OrderBy(f => f.UserId).Skip((page - 1) * pageSize).Take(pageSize)
            .Select(f => new BatchRunFailure(f.UserId, f.FailureClass.ToString(), f.Reason, f.Attempts, f.FailedAt))
            .ToListAsync(cancellationToken);
        return new BatchRunFailurePage(page, pageSize, await ofDay.CountAsync(cancellationToken), items);
    }

    public async Task<FailureSearchPage> SearchAsync(
        DateOnly day, FailureSearch search, long? afterUserId, int pageSize, CancellationToken cancellationToken)
    {
        // The day and class lead the (snapshot_day, failure_class, user_id) index, so a class's page is
        // a range of it; the reason is a substring, checked on the rows of the day (or class) only.
        var matching = db.AssetRefreshFailures.AsNoTracking().Where(f => f.SnapshotDay == day);
        if (search.UserId is { } userId)
            matching = matching.Where(f => f.UserId == userId);
        if (search.FailureClass is { } text)
        {
            if (!Enum.TryParse<FailureClass>(text, ignoreCase: true, out var failureClass) || !Enum.IsDefined(failureClass))
                return new FailureSearchPage([], 0, null);
            matching = matching.Where(f => f.FailureClass == failureClass);
        }
        if (search.ReasonContains is { Length: > 0 } reason)
        {
            var lowered = reason.ToLowerInvariant();
            matching = matching.Where(f => f.Reason.ToLower().Contains(lowered));
        }
        var total = await matching.CountAsync(cancellationToken);
        var page = afterUserId is { } after ? matching.Where(f => f.UserId > after) : matching;
        var items = await page.OrderBy(f => f.UserId).Take(pageSize + 1)
            .Select(f => new BatchRunFailure(f.UserId, f.FailureClass.ToString(), f.Reason, f.Attempts, f.FailedAt))
            .ToListAsync(cancellationToken);
        return items.Count > pageSize
            ? new FailureSearchPage(items[..pageSize], total, items[pageSize - 1].UserId)
            : new FailureSearchPage(items, total, null);
    }
}
