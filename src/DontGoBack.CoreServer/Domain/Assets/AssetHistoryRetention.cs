using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// Deletes the change history older than <see cref="HistoryOptions.ChangeRetentionDays"/>, set-based in
/// batches of the oldest ids. The chain check still holds on what is left: it only compares a change
/// with the one kept before it, and the newest kept change with the closing of its snapshot.
/// </summary>
public sealed class AssetHistoryRetention(DontGoBackDbContext db, IOptions<HistoryOptions> options)
{
    /// <summary>Deletes the changes on days before <paramref name="today"/> − ChangeRetentionDays; returns how many. Nothing when retention is off.</summary>
    public async Task<long> DeleteExpiredChangesAsync(DateOnly today, CancellationToken cancellationToken)
    {
        if (options.Value.ChangeRetentionDays is not { } days)
            return 0;
        var keepFrom = today.AddDays(-days);
        var batchSize = options.Value.DeleteBatchSize;
        long deleted = 0;
        int last;
        do
        {
            // Oldest ids first: the old rows lie at the front of the table, and a batch's subquery stops at its limit.
            last = await db.AssetChanges
                .Where(c => db.AssetChanges.Where(old => old.SnapshotDay < keepFrom).OrderBy(old => old.Id).Take(batchSize)
                    .Select(old => old.Id).Contains(c.Id))
                .ExecuteDeleteAsync(cancellationToken);
            deleted += last;
        }
        while (last == batchSize);
        return deleted;
    }
}
