using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Schedule;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Domain.Users;

/// <summary>Adds demo users in set-based SQL, each with an opening snapshot and its change row, so a fresh database has something to refresh.</summary>
public sealed class DemoPopulation(DontGoBackDbContext db, BatchCalendar calendar, TimeProvider time)
{

    /// <param name="activePercent">Share of ACTIVE users; the rest are spread over the other statuses by id.</param>
    /// <returns>The id range added.</returns>
    public async Task<(long FirstId, long LastId)> AddUsersAsync(
        int count, DateOnly openingDay, long openingAmount, int activePercent, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegative(openingAmount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(activePercent, 100);
        var now = time.GetUtcNow();
        // No demo user was active before their account opened (the start of its opening day in the batch
        // zone): one whose spread-out last activity would come earlier was last active at the opening.
        var opened = calendar.StartOf(openingDay);
        if (opened > now)
            throw new ArgumentOutOfRangeException(nameof(openingDay), openingDay, "A demo account cannot open after now.");
        DateTimeOffset ActiveAgo(TimeSpan ago) => now - ago < opened ? opened : now - ago;

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var firstId = await db.Users.MaxAsync(u => (long?)u.Id, cancellationToken) + 1 ?? 1;
        var lastId = firstId + count - 1;

        // Statuses follow the id so a given id always has the same status in every demo database.
        await db.Database.ExecuteSqlAsync($"""
            WITH RECURSIVE seq(id) AS (SELECT {firstId} UNION ALL SELECT id + 1 FROM seq WHERE id < {lastId})
            INSERT INTO users (id, status, created_at, opening_day, last_activity_at)
            SELECT id,
                   CASE WHEN id % 100 < {activePercent} THEN 'ACTIVE'
                        WHEN id % 3 = 0 THEN 'INACTIVE'
                        WHEN id % 3 = 1 THEN 'SUSPENDED'
                        ELSE 'CLOSE_REQUESTED' END,
                   {now}, {openingDay},
                   -- Plausible last activity, spread by id independently of the status, never before the opening:
                   -- most users lately; of accounts opened long enough ago, a few over a year ago
                   -- (UserDormancy:AfterDays), whom the next dormancy run makes INACTIVE.
                   CASE WHEN (id * 37) % 100 < 45 THEN {ActiveAgo(TimeSpan.FromHours(6))}
                        WHEN (id * 37) % 100 < 70 THEN {ActiveAgo(TimeSpan.FromDays(3))}
                        WHEN (id * 37) % 100 < 85 THEN {ActiveAgo(TimeSpan.FromDays(20))}
                        WHEN (id * 37) % 100 < 93 THEN {ActiveAgo(TimeSpan.FromDays(90))}
                        WHEN (id * 37) % 100 < 97 THEN {ActiveAgo(TimeSpan.FromDays(250))}
                        ELSE {ActiveAgo(TimeSpan.FromDays(400))} END
              FROM seq
            """, cancellationToken);
        if (db.Database.IsNpgsql())
        {
            // Explicit ids leave the identity sequence behind; move it past them.
            await db.Database.ExecuteSqlRawAsync(
                "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))", cancellationToken);
        }
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO daily_asset_snapshots
                   (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
            SELECT id, {openingDay}, {openingAmount}, {openingAmount}, NULL, 0, 0, {now} FROM users WHERE id BETWEEN {firstId} AND {lastId}
            """, cancellationToken);
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, reason, snapshot_id, snapshot_day, changed_at)
            SELECT user_id, {nameof(AssetChangeKind.Opening)}, 0, closing_amount, closing_amount, {"demo opening"}, id, snapshot_day, {now}
              FROM daily_asset_snapshots WHERE user_id BETWEEN {firstId} AND {lastId}
            """, cancellationToken);
        await db.Database.ExecuteSqlAsync($"""
            UPDATE users SET current_snapshot_id = s.id, current_snapshot_day = s.snapshot_day
              FROM daily_asset_snapshots s
             WHERE s.user_id = users.id AND users.id BETWEEN {firstId} AND {lastId}
            """, cancellationToken);

        await transaction.CommitAsync(cancellationToken);
        return (firstId, lastId);
    }
}
