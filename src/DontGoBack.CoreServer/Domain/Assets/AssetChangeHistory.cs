using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>A day's market move as its snapshot holds it.</summary>
public readonly record struct SnapshotMarketMove(long SnapshotId, DateOnly Day, long Opening, long MarketDelta, DateTimeOffset UpdatedAt);

/// <summary>
/// A user's change history as it reads: the changes recorded in <c>asset_changes</c> (the opening,
/// rewards, penalties, corrections, re-bases), in the order written, with each day's market move
/// — which lives in its snapshot alone — put back where it happened.
/// </summary>
/// <remarks>
/// Where a market move goes: a recorded change lands on the user's newest snapshot of its time
/// (a re-base's clamp corrections are written with their rebase row, which does), so the moves
/// written between two recorded changes are those of the days after the first one's newest day up
/// to the second one's; moves before the first recorded change come first, those after the last
/// come last. A day written behind later ones has no move of its own: its rebase row records it.
/// A re-base rewrites the amounts of the days after the late day, so up to the last rebase row the
/// moves before a recorded change are shown taking the balance from the change before to that
/// change, as they did when written; elsewhere each move is its snapshot's opening and market
/// delta, unchanged.
/// </remarks>
public sealed class AssetChangeHistory(DontGoBackDbContext db)
{
    public async Task<List<AssetChange>> OfUserAsync(long userId, CancellationToken cancellationToken)
    {
        var recorded = await db.AssetChanges.AsNoTracking().Where(c => c.UserId == userId).OrderBy(c => c.Id).ToListAsync(cancellationToken);
        var moves = await db.DailyAssetSnapshots.AsNoTracking()
            .Where(s => s.UserId == userId && s.MarketMultiplier != null)
            .OrderBy(s => s.SnapshotDay)
            .Select(s => new SnapshotMarketMove(s.Id, s.SnapshotDay, s.OpeningAmount, s.MarketDelta, s.UpdatedAt))
            .ToListAsync(cancellationToken);
        return Merge(userId, recorded, moves);
    }

    /// <param name="recorded">The user's recorded changes in the order written (by id).</param>
    /// <param name="moves">The market moves of the user's snapshots, in day order.</param>
    public static List<AssetChange> Merge(long userId, IReadOnlyList<AssetChange> recorded, IReadOnlyList<SnapshotMarketMove> allMoves)
    {
        // A day written behind later ones has its move recorded in its rebase row, not as a move of its own.
        var lateDays = recorded.Where(c => c.Kind == AssetChangeKind.Rebase)
            .Select(c => AssetChainRebase.LateDayOf(c.Reason)).OfType<DateOnly>().ToHashSet();
        var moves = lateDays.Count == 0 ? allMoves : allMoves.Where(m => !lateDays.Contains(m.Day)).ToList();
        var newestDays = NewestDayWhenWritten(recorded);
        var history = new List<AssetChange>(recorded.Count + moves.Count);
        var next = 0;
        var lastRebase = -1;
        for (var k = 0; k < recorded.Count; k++)
        {
            if (recorded[k].Kind == AssetChangeKind.Rebase)
                lastRebase = k;
        }
        for (var k = 0; k < recorded.Count; k++)
        {
            var change = recorded[k];
            var first = next;
            while (next < moves.Count && moves[next].Day <= newestDays[k])
                next++;
            if (next > first)
            {
                // Re-based since: the snapshots no longer hold the amounts the moves had when written.
                var pinned = k <= lastRebase && history.Count > 0;
                var before = pinned ? history[^1].AmountAfter : 0;
                for (var m = first; m < next; m++)
                {
                    if (!pinned)
                        before = moves[m].Opening;
                    var after = pinned && m == next - 1 ? change.AmountBefore : before + moves[m].MarketDelta;
                    history.Add(MarketChange(userId, moves[m], before, after));
                    before = after;
                }
            }
            history.Add(change);
        }
        for (; next < moves.Count; next++)
            history.Add(MarketChange(userId, moves[next], moves[next].Opening, moves[next].Opening + moves[next].MarketDelta));
        return history;
    }

    /// <summary>For each recorded change, the newest snapshot day the user had when it was written.</summary>
    private static DateOnly[] NewestDayWhenWritten(IReadOnlyList<AssetChange> recorded)
    {
        var landing = new DateOnly[recorded.Count];
        // A re-base's clamp corrections land on the clamped days but are written with their rebase
        // row (same transaction, same time, right before it), which lands on the newest day.
        for (var k = recorded.Count - 1; k >= 0; k--)
        {
            var change = recorded[k];
            landing[k] = change.Kind == AssetChangeKind.Correction && k + 1 < recorded.Count
                         && recorded[k + 1].Kind is AssetChangeKind.Correction or AssetChangeKind.Rebase
                         && recorded[k + 1].ChangedAt == change.ChangedAt
                ? landing[k + 1]
                : change.SnapshotDay;
        }
        for (var k = 1; k < landing.Length; k++)
        {
            if (landing[k] < landing[k - 1])
                landing[k] = landing[k - 1];
        }
        return landing;
    }

    private static AssetChange MarketChange(long userId, SnapshotMarketMove move, long before, long after) => new()
    {
        UserId = userId,
        Kind = AssetChangeKind.Market,
        AmountBefore = before,
        AmountAfter = after,
        Delta = after - before,
        SnapshotId = move.SnapshotId,
        SnapshotDay = move.Day,
        ChangedAt = move.UpdatedAt,
    };
}
