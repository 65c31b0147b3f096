using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>One place where a user's history does not add up.</summary>
/// <param name="Rule">
/// Which invariant broke: opening, closing, market_delta, negative, pointer, before_account, change_before, change_after, balance;
/// across the roll-ups, rollup_opening (a month's roll-up against the one before) and opening_after_rollup (the first daily row
/// after them against the last); of a month rolled up that still has its days, rollup_days (its days against the roll-up's
/// count, found null when the user has no roll-up), rollup_closing (its last day's closing) and rollup_net_flow (its net
/// flows' sum). A roll-up's break is reported on its month's first day.
/// </param>
public sealed record ChainBreak(long UserId, DateOnly SnapshotDay, string Rule, long? Expected, long? Found);

/// <param name="Total">Every break found.</param>
/// <param name="First">The first breaks by user and day, at most the limit asked for.</param>
public sealed record ChainCheck(long Total, IReadOnlyList<ChainBreak> First);

/// <summary>
/// Checks the chain invariant of every user's history, set-based on either provider:
/// each snapshot opens at the previous one's closing, closes at opening + market delta + net
/// flow, with the market delta of its multiplier; nothing predates the account; the pointer is on
/// the newest snapshot; and the change history ends at the current amount. Market moves live in
/// the snapshots alone (see <see cref="AssetChangeHistory"/>), so the recorded changes, in the order
/// written, are checked to chain before to after wherever no market move came between them (the
/// change lands on a day no newer than the newest one before it; a re-base's clamp corrections,
/// written with their rebase row, are left to it), and the last of them to meet the closing of
/// the snapshot it landed on; the newest snapshot's closing meets the pointer's. Across the months rolled up
/// (<see cref="AssetHistoryLifecycle"/>), each roll-up opens at the closing of the user's roll-up before it, and the first
/// daily row after them opens at the last one's closing.
/// </summary>
/// <remarks>
/// Users are checked a page at a time, by user id, one statement per page, so no statement grows
/// with the database (the default command timeout holds for any number of users). Inside a
/// statement every row is read once: the base tables are joined by key before the window functions
/// run, and nothing is joined to a window's result afterwards. A window's result has no statistics;
/// PostgreSQL guessed one row for "the newest snapshot of each user" and nested-looped the whole
/// snapshot table over it, which took the check quadratic whenever back-filled days held higher ids
/// than the newest ones.
/// </remarks>
public sealed class AssetChainVerifier(DontGoBackDbContext db)
{
    /// <summary>Users whose histories one statement checks.</summary>
    public const int DefaultUsersPerStatement = 1_000;

    /// <summary>Users whose histories one statement checks; a test sets it small to check several pages.</summary>
    public int UsersPerStatement { get; init; } = DefaultUsersPerStatement;

    public async Task<ChainCheck> CheckAsync(DateOnly from, DateOnly to, int limit, CancellationToken cancellationToken)
    {
        var first = new List<ChainBreak>();
        long total = 0;
        // Every id a user may have, zero and negative ones included (the batches work on them all).
        var firstId = long.MinValue;
        while (true)
        {
            // The last id of the next page, by the primary key; past the last page, every id that is left.
            var last = await db.Users.AsNoTracking().Where(u => u.Id >= firstId).OrderBy(u => u.Id)
                .Skip(UsersPerStatement - 1).Select(u => (long?)u.Id).FirstOrDefaultAsync(cancellationToken) ?? long.MaxValue;
            await foreach (var found in PageOf(firstId, last, from, to).WithCancellation(cancellationToken))
            {
                if (first.Count < limit)
                    first.Add(found);
                total++;
            }
            if (last == long.MaxValue)
                return new ChainCheck(total, first);
            firstId = last + 1;
        }
    }

    private string MonthOf(string day) => db.Database.IsNpgsql() ? AssetMonthRollups.PostgresMonthOf(day) : AssetMonthRollups.SqliteMonthOf(day);

    /// <summary>The breaks of the users with ids in [firstId, last], by user, day and rule.</summary>
    private IAsyncEnumerable<ChainBreak> PageOf(long firstId, long last, DateOnly from, DateOnly to)
    {
        // Windows run over the user's whole history so the first day of the range still meets its predecessor;
        // the range only filters what is reported. Every table read is bounded by the page's ids, each
        // on its own (PostgreSQL does not carry a range across a join): a table joined by its primary
        // key alone may be merge-joined from its first row, which made each page read all before it.
        // The pointer's closing comes from the user's own snapshots (a pointer anywhere else breaks the
        // pointer rule), and a change landed on a snapshot that is not its user's breaks the balance.
        // The market delta is allowed one won of slack:
        // the engines' float rounding of opening × multiplier may differ from .NET's at an exact half.
        // Only the month of a day is spelled per provider; every value is a parameter ({0} to {5}).
        var sql = $$"""
            WITH snapshots AS (
                SELECT s.id, s.user_id, s.snapshot_day, s.opening_amount, s.closing_amount, s.market_multiplier, s.market_delta, s.net_flow,
                       u.current_snapshot_id, u.current_snapshot_day,
                       MAX(CASE WHEN s.id = u.current_snapshot_id THEN s.closing_amount END) OVER (PARTITION BY s.user_id) AS pointer_closing,
                       LAG(s.closing_amount) OVER (PARTITION BY s.user_id ORDER BY s.snapshot_day) AS previous_closing,
                       LEAD(s.snapshot_day) OVER (PARTITION BY s.user_id ORDER BY s.snapshot_day) AS next_day,
                       ROW_NUMBER() OVER (PARTITION BY s.user_id ORDER BY s.snapshot_day DESC) AS newest_first
                  FROM daily_asset_snapshots s
                  JOIN users u ON u.id = s.user_id
                 WHERE s.user_id >= {0} AND s.user_id <= {1} AND u.id >= {0} AND u.id <= {1}
            ), changes AS (
                SELECT c.user_id, c.kind, c.snapshot_day, c.amount_before, c.amount_after, c.delta, c.changed_at,
                       landed.closing_amount AS landed_closing,
                       LAG(c.amount_after) OVER by_id AS previous_after,
                       MAX(c.snapshot_day) OVER (PARTITION BY c.user_id ORDER BY c.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_newest,
                       LEAD(c.kind) OVER by_id AS next_kind,
                       LEAD(c.changed_at) OVER by_id AS next_changed_at,
                       ROW_NUMBER() OVER (PARTITION BY c.user_id ORDER BY c.id DESC) AS newest_first
                  FROM asset_changes c
                  LEFT JOIN daily_asset_snapshots landed
                         ON landed.id = c.snapshot_id AND landed.user_id = c.user_id AND landed.user_id >= {0} AND landed.user_id <= {1}
                 WHERE c.user_id >= {0} AND c.user_id <= {1}
                WINDOW by_id AS (PARTITION BY c.user_id ORDER BY c.id)
            ), newest_rollups AS (
                SELECT r.user_id, MAX(r.month) AS month
                  FROM asset_month_rollups r
                 WHERE r.user_id >= {0} AND r.user_id <= {1}
                 GROUP BY r.user_id
            ), rollups AS (
                SELECT r.user_id, r.month, r.opening_amount,
                       LAG(r.closing_amount) OVER (PARTITION BY r.user_id ORDER BY r.month) AS previous_closing
                  FROM asset_month_rollups r
                 WHERE r.user_id >= {0} AND r.user_id <= {1}
            ), after_rollups AS (
                -- The daily rows after each user's newest roll-up, by the (user, day) index: a user's current snapshot
                -- kept in a rolled-up month is its last day, so the first row after it meets it as well as the roll-up.
                SELECT s.user_id, s.snapshot_day, s.opening_amount, r.closing_amount AS rollup_closing,
                       ROW_NUMBER() OVER (PARTITION BY s.user_id ORDER BY s.snapshot_day) AS oldest_first
                  FROM newest_rollups n
                  JOIN asset_month_rollups r ON r.user_id = n.user_id AND r.month = n.month
                  JOIN daily_asset_snapshots s ON s.user_id = r.user_id AND s.snapshot_day > r.last_day
                 WHERE r.user_id >= {0} AND r.user_id <= {1} AND s.user_id >= {0} AND s.user_id <= {1}
            ), month_days AS (
                -- Each user's days by month, with the month's last closing: the day whose next day is in another month.
                SELECT user_id, {{MonthOf("snapshot_day")}} AS month, COUNT(*) AS days, CAST(SUM(net_flow) AS bigint) AS net_flow,
                       CAST(SUM(CASE WHEN next_day IS NULL OR {{MonthOf("next_day")}} <> {{MonthOf("snapshot_day")}} THEN closing_amount END) AS bigint) AS closing_amount
                  FROM snapshots
                 GROUP BY user_id, {{MonthOf("snapshot_day")}}
            ), rolled_up_days AS (
                -- The months rolled up and still daily (not sealed): each user's roll-up says what its days say.
                SELECT d.user_id, d.month, d.days, d.net_flow, d.closing_amount,
                       r.days AS rollup_days, r.net_flow AS rollup_net_flow, r.closing_amount AS rollup_closing
                  FROM month_days d
                  JOIN asset_rolled_up_months m ON m.month = d.month AND m.rolled_up_at IS NOT NULL AND m.sealed_at IS NULL
                  LEFT JOIN asset_month_rollups r ON r.user_id = d.user_id AND r.month = d.month AND r.user_id >= {0} AND r.user_id <= {1}
            ), breaks AS (
                SELECT user_id, month AS snapshot_day, 'rollup_days' AS rule, days AS expected, rollup_days AS found
                  FROM rolled_up_days WHERE rollup_days IS NULL OR rollup_days <> days
                UNION ALL
                SELECT user_id, month, 'rollup_closing', closing_amount, rollup_closing
                  FROM rolled_up_days WHERE rollup_closing <> closing_amount
                UNION ALL
                SELECT user_id, month, 'rollup_net_flow', net_flow, rollup_net_flow
                  FROM rolled_up_days WHERE rollup_net_flow <> net_flow
                UNION ALL
                SELECT user_id, month, 'rollup_opening', previous_closing, opening_amount
                  FROM rollups WHERE previous_closing IS NOT NULL AND opening_amount <> previous_closing
                UNION ALL
                SELECT user_id, snapshot_day, 'opening_after_rollup', rollup_closing, opening_amount
                  FROM after_rollups WHERE oldest_first = 1 AND opening_amount <> rollup_closing
                UNION ALL
                SELECT user_id, snapshot_day, 'opening', previous_closing, opening_amount
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
                SELECT user_id, snapshot_day, 'pointer', id, current_snapshot_id
                  FROM snapshots
                 WHERE newest_first = 1 AND (current_snapshot_id IS NULL OR current_snapshot_id <> id
                                             OR current_snapshot_day IS NULL OR current_snapshot_day <> snapshot_day)
                UNION ALL
                SELECT user_id, snapshot_day, 'change_before', previous_after, amount_before
                  FROM changes
                 WHERE previous_after IS NOT NULL AND amount_before <> previous_after AND snapshot_day <= previous_newest
                   AND NOT (kind = {4} AND next_changed_at = changed_at
                            AND next_kind IN ({4}, {5}))
                UNION ALL
                SELECT user_id, snapshot_day, 'change_after', amount_before + delta, amount_after
                  FROM changes WHERE amount_after <> amount_before + delta
                UNION ALL
                SELECT user_id, snapshot_day, 'balance', landed_closing, amount_after
                  FROM changes WHERE newest_first = 1 AND (landed_closing IS NULL OR amount_after <> landed_closing)
                UNION ALL
                SELECT user_id, snapshot_day, 'balance', pointer_closing, closing_amount
                  FROM snapshots WHERE newest_first = 1 AND closing_amount <> pointer_closing
            )
            SELECT user_id, snapshot_day, rule, expected, found FROM breaks
             WHERE snapshot_day >= {2} AND snapshot_day <= {3}
             ORDER BY user_id, snapshot_day, rule
            """;
        return db.Database.SqlQueryRaw<ChainBreak>(sql, firstId, last, from, to, nameof(AssetChangeKind.Correction), nameof(AssetChangeKind.Rebase))
            .AsAsyncEnumerable();
    }
}
