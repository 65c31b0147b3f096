using System.ComponentModel.DataAnnotations;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Domain.Assets;

public sealed class AssetHistoryOptions
{
    public const string SectionName = "AssetHistory";

    /// <summary>
    /// Days of change history (<c>asset_changes</c>: openings, rewards, penalties, corrections, re-bases) kept
    /// before the day the retention runs for; unset keeps everything. The snapshots are not touched: the
    /// series and the chain stay whole. An idempotency key is remembered only as long as its change is kept.
    /// </summary>
    [Range(1, 36_500)]
    public int? RetentionDays { get; set; }

    /// <summary>Rows per DELETE statement, each its own transaction, so the retention never holds a long lock or one huge WAL burst.</summary>
    [Range(1, 1_000_000)]
    public int DeleteBatchSize { get; set; } = 10_000;
}

/// <summary>
/// Deletes the change history older than <see cref="AssetHistoryOptions.RetentionDays"/>, set-based in
/// batches of the oldest ids. The chain check still holds on what is left: it only compares a change
/// with the one kept before it, and the newest kept change with the closing of its snapshot.
/// </summary>
public sealed class AssetHistoryRetention(DontGoBackDbContext db, IOptions<AssetHistoryOptions> options)
{
    /// <summary>Deletes the changes on days before <paramref name="today"/> − RetentionDays; returns how many. Nothing when retention is off.</summary>
    public async Task<long> DeleteExpiredChangesAsync(DateOnly today, CancellationToken cancellationToken)
    {
        if (options.Value.RetentionDays is not { } days)
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
