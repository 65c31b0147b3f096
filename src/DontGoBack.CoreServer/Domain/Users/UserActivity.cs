using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Domain.Users;

/// <summary>What recording a user's activity did.</summary>
public abstract record ActivityOutcome
{
    /// <summary>The time was recorded; <paramref name="Reactivated"/> when it woke a dormant (INACTIVE) account.</summary>
    public sealed record Recorded(long UserId, AccountStatus Status, DateTimeOffset LastActivityAt, bool Reactivated) : ActivityOutcome;

    public sealed record UserNotFound : ActivityOutcome;
}

/// <summary>
/// Records that a user was active. The common case — an account that is not dormant — is one
/// UPDATE; a dormant account is made ACTIVE at once, with a status-history row, under the user's
/// row lock, so it is refreshed again from its last snapshot at the next asset refresh. Calling it
/// again only moves the time.
/// </summary>
public sealed class UserActivity(DontGoBackDbContext db, TimeProvider time)
{
    public const string ReactivatedReason = "activity after dormancy";

    public async Task<ActivityOutcome> RecordAsync(long userId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var touched = await db.Users.Where(u => u.Id == userId && u.Status != AccountStatus.Inactive)
            .ExecuteUpdateAsync(set => set.SetProperty(u => u.LastActivityAt, now), cancellationToken);
        if (touched == 1)
            return new ActivityOutcome.Recorded(userId, await StatusOfAsync(userId, cancellationToken) ?? AccountStatus.Active, now, Reactivated: false);

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (db.Database.IsNpgsql())
        {
            // SQLite needs no lock: its write transactions begin IMMEDIATE and run one at a time.
            await db.Database.ExecuteSqlAsync($"SELECT id FROM users WHERE id = {userId} FOR UPDATE", cancellationToken);
        }
        var status = await StatusOfAsync(userId, cancellationToken);
        if (status is null)
            return new ActivityOutcome.UserNotFound();
        var reactivated = status == AccountStatus.Inactive;
        var user = db.Users.Where(u => u.Id == userId);
        if (!reactivated)
            await user.ExecuteUpdateAsync(set => set.SetProperty(u => u.LastActivityAt, now), cancellationToken);
        else
        {
            await user.ExecuteUpdateAsync(set => set.SetProperty(u => u.LastActivityAt, now).SetProperty(u => u.Status, AccountStatus.Active),
                cancellationToken);
            db.UserStatusChanges.Add(new UserStatusChange
            {
                UserId = userId, FromStatus = AccountStatus.Inactive, ToStatus = AccountStatus.Active, Reason = ReactivatedReason, ChangedAt = now,
            });
            await db.SaveChangesAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return new ActivityOutcome.Recorded(userId, reactivated ? AccountStatus.Active : status.Value, now, reactivated);
    }

    private Task<AccountStatus?> StatusOfAsync(long userId, CancellationToken cancellationToken) =>
        db.Users.AsNoTracking().Where(u => u.Id == userId).Select(u => (AccountStatus?)u.Status).SingleOrDefaultAsync(cancellationToken);
}
