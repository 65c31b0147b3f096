using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>One place where a user's history does not add up.</summary>
/// <param name="Rule">Which invariant broke: opening, closing, market_delta, negative, pointer, before_account, change_before, change_after, balance.</param>
public sealed record ChainBreak(long UserId, DateOnly SnapshotDay, string Rule, long? Expected, long? Found);

/// <param name="Total">Every break found.</param>
/// <param name="First">The first breaks by user and day, at most the limit asked for.</param>
public sealed record ChainCheck(long Total, IReadOnlyList<ChainBreak> First);

/// <summary>
/// Checks the chain invariant of every user's history in one set-based query on either provider:
/// each snapshot opens at the previous one's closing, closes at opening + market delta + net
/// flow, with the market delta of its multiplier; nothing predates the account; the pointer is on
/// the newest snapshot; and the change history ends at the current amount. Market moves live in
/// the snapshots alone (see <see cref="AssetChangeHistory"/>), so the recorded changes, in the order
/// written, are checked to chain before to after wherever no market move came between them (the
/// change lands on a day no newer than the newest one before it; a re-base's clamp corrections,
/// written with their rebase row, are left to it), and the last of them to meet the closing of
/// the snapshot it landed on; the newest snapshot's closing meets the pointer's.
/// </summary>
public sealed class AssetChainVerifier(DontGoBackDbContext db)
{
    public async Task<ChainCheck> CheckAsync(DateOnly from, DateOnly to, int limit, CancellationToken cancellationToken)
    {
        var first = new List<ChainBreak>();
        long total = 0;
        // Windows run over the whole history so the first day of the range still meets its predecessor;
        // each window's rows meet only base tables by key afterwards (a join of one window's rows
        // to another's has no statistics, and PostgreSQL may nest-loop it);
        // the range only filters what is reported. The market delta is allowed one won of slack:
        // the engines' float rounding of opening × multiplier may differ from .NET's at an exact half.
        var breaks = db.Database.SqlQuery<ChainBreak>($"""
            WITH snapshots AS (
                SELECT s.id, s.user_id, s.snapshot_day, s.opening_amount, s.closing_amount, s.market_multiplier, s.market_delta, s.net_flow,
                       LAG(s.closing_amount) OVER (PARTITION BY s.user_id ORDER BY s.snapshot_day) AS previous_closing,
                       ROW_NUMBER() OVER (PARTITION BY s.user_id ORDER BY s.snapshot_day DESC) AS newest_first
                  FROM daily_asset_snapshots s
            ), changes AS (
                SELECT c.user_id, c.kind, c.snapshot_id, c.snapshot_day, c.amount_before, c.amount_after, c.delta, c.changed_at,
                       LAG(c.amount_after) OVER by_id AS previous_after,
                       MAX(c.snapshot_day) OVER (PARTITION BY c.user_id ORDER BY c.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_newest,
                       LEAD(c.kind) OVER by_id AS next_kind,
                       LEAD(c.changed_at) OVER by_id AS next_changed_at,
                       ROW_NUMBER() OVER (PARTITION BY c.user_id ORDER BY c.id DESC) AS newest_first
                  FROM asset_changes c
                WINDOW by_id AS (PARTITION BY c.user_id ORDER BY c.id)
            ), breaks AS (
                SELECT user_id, snapshot_day, 'opening' AS rule, previous_closing AS expected, opening_amount AS found
                  FROM snapshots WHERE previous_closing IS NOT NULL AND opening_amount <> previous_closing
                UNION ALL
                SELECT user_id, snapshot_day, 'closing', opening_amount + market_delta + net_flow, closing_amount
                  FROM snapshots WHERE closing_amount <> opening_amount + market_delta + net_flow
                UNION ALL
                SELECT user_id, snapshot_day, 'market_delta',
                       CASE WHEN market_multiplier IS NULL THEN 0 ELSE CAST(round(opening_amount * market_multiplier) AS bigint) - opening_amount END,
                       market_delta
                  FROM snapshots
                 WHERE (market_multiplier IS NULL AND market_delta <> 0)
                    OR abs(market_delta - (round(opening_amount * market_multiplier) - opening_amount)) > 1
                UNION ALL
                SELECT user_id, snapshot_day, 'negative', 0, closing_amount FROM snapshots WHERE closing_amount < 0
                UNION ALL
                SELECT s.user_id, s.snapshot_day, 'pointer', s.id, u.current_snapshot_id
                  FROM snapshots s JOIN users u ON u.id = s.user_id
                 WHERE s.newest_first = 1 AND (u.current_snapshot_id IS NULL OR u.current_snapshot_id <> s.id)
                UNION ALL
                SELECT user_id, snapshot_day, 'change_before', previous_after, amount_before
                  FROM changes
                 WHERE previous_after IS NOT NULL AND amount_before <> previous_after AND snapshot_day <= previous_newest
                   AND NOT (kind = {nameof(AssetChangeKind.Correction)} AND next_changed_at = changed_at
                            AND next_kind IN ({nameof(AssetChangeKind.Correction)}, {nameof(AssetChangeKind.Rebase)}))
                UNION ALL
                SELECT user_id, snapshot_day, 'change_after', amount_before + delta, amount_after
                  FROM changes WHERE amount_after <> amount_before + delta
                UNION ALL
                SELECT c.user_id, c.snapshot_day, 'balance', s.closing_amount, c.amount_after
                  FROM changes c JOIN daily_asset_snapshots s ON s.id = c.snapshot_id
                 WHERE c.newest_first = 1 AND c.amount_after <> s.closing_amount
                UNION ALL
                SELECT n.user_id, n.snapshot_day, 'balance', p.closing_amount, n.closing_amount
                  FROM snapshots n JOIN users u ON u.id = n.user_id JOIN daily_asset_snapshots p ON p.id = u.current_snapshot_id
                 WHERE n.newest_first = 1 AND n.closing_amount <> p.closing_amount
            )
            SELECT user_id, snapshot_day, rule, expected, found FROM breaks
             WHERE snapshot_day >= {from} AND snapshot_day <= {to}
             ORDER BY user_id, snapshot_day, rule
            """).AsAsyncEnumerable();
        await foreach (var found in breaks.WithCancellation(cancellationToken))
        {
            if (first.Count < limit)
                first.Add(found);
            total++;
        }
        return new ChainCheck(total, first);
    }
}
