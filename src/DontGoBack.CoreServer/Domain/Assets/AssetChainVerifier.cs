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
/// the newest snapshot; and the change history, in the order it was written, chains before to
/// after and ends at the current amount.
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
                SELECT c.user_id, c.snapshot_day, c.amount_before, c.amount_after, c.delta,
                       LAG(c.amount_after) OVER (PARTITION BY c.user_id ORDER BY c.id) AS previous_after,
                       ROW_NUMBER() OVER (PARTITION BY c.user_id ORDER BY c.id DESC) AS newest_first
                  FROM asset_changes c
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
                  FROM changes WHERE previous_after IS NOT NULL AND amount_before <> previous_after
                UNION ALL
                SELECT user_id, snapshot_day, 'change_after', amount_before + delta, amount_after
                  FROM changes WHERE amount_after <> amount_before + delta
                UNION ALL
                SELECT c.user_id, c.snapshot_day, 'balance', s.closing_amount, c.amount_after
                  FROM changes c JOIN users u ON u.id = c.user_id JOIN daily_asset_snapshots s ON s.id = u.current_snapshot_id
                 WHERE c.newest_first = 1 AND c.amount_after <> s.closing_amount
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
