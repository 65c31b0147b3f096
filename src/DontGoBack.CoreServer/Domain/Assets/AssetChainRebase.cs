using System.Globalization;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>A snapshot as stored, to be re-based.</summary>
public readonly record struct StoredSnapshot(long Id, DateOnly Day, long Opening, long Closing, double? Multiplier, long NetFlow);

/// <summary>A snapshot's new amounts after a re-base; the multiplier stays, the net flow moves only by a clamp's correction.</summary>
public readonly record struct RebasedSnapshot(long Id, long Opening, long MarketDelta, long NetFlow, long Closing);

/// <summary>A change row to append for a re-base: what moved the balance, by how much, why.</summary>
public readonly record struct RebaseChange(AssetChangeKind Kind, long Before, long After, string Reason, long SnapshotId, DateOnly SnapshotDay);

/// <summary>What writing one user's late day does to the days after it.</summary>
public sealed record UserRebase(long UserId, IReadOnlyList<RebasedSnapshot> Snapshots, IReadOnlyList<RebaseChange> Changes);

/// <summary>
/// Keeps a user's chain when a day is written behind later ones: each later snapshot opens at the
/// closing before it and closes at round(opening × its stored multiplier) + its net flow, in day
/// order, without asking the extension again. The change history only grows: one rebase row
/// takes the balance from the old newest closing to the new one, and a day that would go below
/// zero is clamped at zero by a correction of its own (its net flow grows by it, recorded before
/// the rebase row), so in the order
/// written every change's before is the previous one's after.
/// </summary>
public static class AssetChainRebase
{
    /// <summary>A rebase row's reason starts with this, then the late day written (yyyy-MM-dd).</summary>
    private const string RebaseReasonPrefix = "market move of ";

    /// <summary>The late day whose market move a rebase row records (it has no move of its own in the history); null if the reason is not a rebase's.</summary>
    public static DateOnly? LateDayOf(string? rebaseReason) =>
        rebaseReason is { Length: >= 25 } && rebaseReason.StartsWith(RebaseReasonPrefix, StringComparison.Ordinal)
        && DateOnly.TryParseExact(rebaseReason.AsSpan(RebaseReasonPrefix.Length, 10), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)
            ? day
            : null;

    /// <param name="writtenDay">The late day just written, with its multiplier and closing.</param>
    /// <param name="later">The user's snapshots after <paramref name="writtenDay"/>, in day order; at least one.</param>
    /// <returns>The plan, or null when an amount would not fit in 64 bits.</returns>
    public static UserRebase? Plan(long userId, DateOnly writtenDay, double writtenMultiplier, long writtenClosing, IReadOnlyList<StoredSnapshot> later)
    {
        ArgumentOutOfRangeException.ThrowIfZero(later.Count);
        var snapshots = new List<RebasedSnapshot>(later.Count);
        var corrections = new List<(StoredSnapshot Day, long Amount)>();
        var previousClosing = writtenClosing;
        foreach (var stored in later)
        {
            // An opening snapshot has no market move: it keeps its amount as it is.
            var moved = stored.Multiplier is { } multiplier ? AssetAmount.Apply(previousClosing, multiplier) : previousClosing;
            if (moved is not { } afterMove || (stored.NetFlow > 0 && afterMove > long.MaxValue - stored.NetFlow))
                return null;
            var netFlow = stored.NetFlow;
            var closing = afterMove + netFlow;
            if (closing < 0)
            {
                corrections.Add((stored, -closing));
                netFlow -= closing;
                closing = 0;
            }
            snapshots.Add(new RebasedSnapshot(stored.Id, previousClosing, afterMove - previousClosing, netFlow, closing));
            previousClosing = closing;
        }

        // Corrections first, then the rebase to the new closing: every balance in between stays >= 0.
        var (first, newest) = (later[0], later[^1]);
        var changes = new List<RebaseChange>(1 + corrections.Count);
        var balance = newest.Closing;
        foreach (var (day, amount) in corrections)
        {
            changes.Add(new RebaseChange(AssetChangeKind.Correction, balance, balance + amount,
                string.Create(CultureInfo.InvariantCulture, $"re-base would take {day.Day:yyyy-MM-dd} below zero; clamped at 0"), day.Id, day.Day));
            balance += amount;
        }
        changes.Add(new RebaseChange(AssetChangeKind.Rebase, balance, previousClosing,
            string.Create(CultureInfo.InvariantCulture,
                $"{RebaseReasonPrefix}{writtenDay:yyyy-MM-dd} (x{writtenMultiplier:0.######}) written after later days; re-based {later.Count} day(s) {first.Day:yyyy-MM-dd}..{newest.Day:yyyy-MM-dd}"),
            newest.Id, newest.Day));
        return new UserRebase(userId, snapshots, changes);
    }
}
