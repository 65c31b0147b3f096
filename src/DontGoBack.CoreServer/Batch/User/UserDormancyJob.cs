using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Batch.User;

/// <summary>
/// Daily: ACTIVE users without activity for UserDormancy:AfterDays days before the run's day become
/// INACTIVE, each with a status-history row saying why. The days count from the later of the last
/// activity and the account's opening (the start of its opening day in the batch zone), so no account
/// younger than AfterDays is made dormant, whatever activity it carries from before it opened. Set-based, one transaction per slice of ids, so a resumed
/// run or a re-run finds those users no longer ACTIVE and changes nothing twice.
/// </summary>
public sealed class UserDormancyJob(DontGoBackDbContext db, BatchCalendar calendar, IOptions<UserDormancyOptions> options, TimeProvider time)
    : IDailyJob
{
    public const string Name = "user-dormancy";

    public static readonly DailyJobDefinition Definition = new(Name, "User dormancy", UserDormancyOptions.SectionName, "active users");

    /// <summary>Ids per transaction: small enough that the activity endpoint never waits long on a row lock.</summary>
    public const int SliceSize = 5_000;

    public IQueryable<long> WorkIds(DateOnly day) =>
        db.Users.AsNoTracking().Where(u => u.Status == AccountStatus.Active).Select(u => u.Id);

    public async Task<BatchOutcome> RunAsync(DateOnly day, IdRange range, RunProgress progress, CancellationToken cancellationToken)
    {
        var afterDays = options.Value.AfterDays;
        // Later of the two below the threshold = both below it; for the opening, whole days compare as their starts do.
        var openedBefore = day.AddDays(-afterDays);
        var inactiveSince = calendar.StartOf(openedBefore);
        var reason = $"dormant: no activity for {afterDays} days before {day:yyyy-MM-dd}";
        // Slices of the ids that exist, however sparse: the range may be every id there could be.
        var slices = await range.SplitAsync(WorkIds(day), SliceSize, cancellationToken);
        if (slices.Count == 0)
            return BatchOutcome.Nothing;
        var (first, last) = (slices[0].First, slices[^1].Last);
        // Its work is the users due to become dormant (the slices' rule below): the others it checks need nothing, and count as skipped.
        progress.Expect(await db.Database.SqlQuery<int>($"""
            SELECT count(*) AS "Value" FROM users
             WHERE id BETWEEN {first} AND {last} AND status = {AccountStatusNames.Active}
               AND opening_day < {openedBefore} AND (last_activity_at IS NULL OR last_activity_at < {inactiveSince})
            """).SingleAsync(cancellationToken));
        var outcome = BatchOutcome.Nothing;
        foreach (var slice in slices)
        {
            var sliceOutcome = await RunSliceAsync(slice, openedBefore, inactiveSince, reason, cancellationToken);
            progress.Done(sliceOutcome.Success, sliceOutcome.Skipped, sliceOutcome.Failed);
            outcome = outcome.Add(sliceOutcome);
        }
        return outcome;
    }

    private async Task<BatchOutcome> RunSliceAsync(IdRange slice, DateOnly openedBefore, DateTimeOffset inactiveSince, string reason, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var active = await db.Users.CountAsync(u => u.Id >= slice.First && u.Id <= slice.Last && u.Status == AccountStatus.Active, cancellationToken);
        int dormant;
        if (db.Database.IsNpgsql())
        {
            // One statement: the users it moves are exactly the ones it records, whatever an activity call does meanwhile.
            dormant = await db.Database.ExecuteSqlAsync($"""
                WITH moved AS (
                    UPDATE users SET status = {AccountStatusNames.Inactive}
                     WHERE id BETWEEN {slice.First} AND {slice.Last} AND status = {AccountStatusNames.Active}
                       AND opening_day < {openedBefore} AND (last_activity_at IS NULL OR last_activity_at < {inactiveSince})
                    RETURNING id)
                INSERT INTO user_status_changes (user_id, from_status, to_status, reason, changed_at)
                SELECT id, {AccountStatusNames.Active}, {AccountStatusNames.Inactive}, {reason}, {now} FROM moved
                """, cancellationToken);
        }
        else
        {
            // SQLite's write transaction (IMMEDIATE) keeps every other writer out between the two statements.
            dormant = await db.Database.ExecuteSqlAsync($"""
                INSERT INTO user_status_changes (user_id, from_status, to_status, reason, changed_at)
                SELECT id, {AccountStatusNames.Active}, {AccountStatusNames.Inactive}, {reason}, {now} FROM users
                 WHERE id BETWEEN {slice.First} AND {slice.Last} AND status = {AccountStatusNames.Active}
                   AND opening_day < {openedBefore} AND (last_activity_at IS NULL OR last_activity_at < {inactiveSince})
                """, cancellationToken);
            await db.Database.ExecuteSqlAsync($"""
                UPDATE users SET status = {AccountStatusNames.Inactive}
                 WHERE id BETWEEN {slice.First} AND {slice.Last} AND status = {AccountStatusNames.Active}
                   AND opening_day < {openedBefore} AND (last_activity_at IS NULL OR last_activity_at < {inactiveSince})
                """, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return new BatchOutcome(active, dormant, active - dormant, 0, null);
    }
}
