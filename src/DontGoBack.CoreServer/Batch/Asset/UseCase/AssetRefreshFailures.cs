using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Batch.Asset.UseCase;

/// <summary>The asset refresh's per-user failures of a day, for the run history.</summary>
public sealed class AssetRefreshFailures(DontGoBackDbContext db) : IBatchRunFailures
{
    public string JobName => AssetRefreshJob.Name;

    public async Task<BatchRunFailurePage> PageAsync(DateOnly day, int page, int pageSize, CancellationToken cancellationToken)
    {
        var ofDay = db.AssetRefreshFailures.AsNoTracking().Where(f => f.SnapshotDay == day);
        var items = await ofDay.OrderBy(f => f.UserId).Skip((page - 1) * pageSize).Take(pageSize)
            .Select(f => new BatchRunFailure(f.UserId, f.FailureClass.ToString(), f.Reason, f.Attempts, f.FailedAt))
            .ToListAsync(cancellationToken);
        return new BatchRunFailurePage(page, pageSize, await ofDay.CountAsync(cancellationToken), items);
    }
}
