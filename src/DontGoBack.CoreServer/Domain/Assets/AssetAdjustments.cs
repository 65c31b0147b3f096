using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <param name="Amount">Signed KRW: positive rewards, negative penalises.</param>
/// <param name="Kind">"reward", "penalty" or "correction"; by default the sign decides.</param>
public sealed record AdjustmentRequest(long Amount, string? Reason, string? IdempotencyKey, string? Kind = null);

public sealed record AdjustmentResult(
    long UserId, long ChangeId, AssetChangeKind Kind, long Delta, long Balance, string Nickname, DateOnly SnapshotDay);

public abstract record AdjustmentOutcome
{
    public sealed record Applied(AdjustmentResult Result) : AdjustmentOutcome;

    /// <summary>The idempotency key was seen before: nothing changed, the first answer again.</summary>
    public sealed record Replayed(AdjustmentResult Result) : AdjustmentOutcome;

    public sealed record UserNotFound : AdjustmentOutcome;

    /// <summary>Nothing changed, for the reason given; the endpoint says it in HTTP.</summary>
    public sealed record Rejected(AdjustmentRejection Reason, string Detail) : AdjustmentOutcome;
}

public enum AdjustmentRejection
{
    /// <summary>The request itself is malformed (amount, reason, key or kind).</summary>
    Invalid,
    /// <summary>The idempotency key was used before for a different change.</summary>
    IdempotencyKeyReused,
    /// <summary>The user has no snapshot to apply the change to.</summary>
    NoAssetYet,
    /// <summary>The change would take the balance below zero or past the largest amount.</summary>
    OutOfRange,
    /// <summary>The user's current snapshot lies in a month rolled up (<see cref="RolledUpMonths"/>): its roll-up would no longer hold.</summary>
    MonthRolledUp,
}

/// <summary>
/// Rewards, penalties and corrections, applied at once to the user's current snapshot (closing
/// and net flow) with a change-history row. The user's row is locked first — the daily refresh
/// takes the same lock per chunk — so concurrent changes queue instead of overwriting each other.
/// </summary>
public sealed class AssetAdjustments(DontGoBackDbContext db, RolledUpMonths rolledUpMonths, ISeriesCacheInvalidator seriesCache, TimeProvider time)
{
    public const int MaxReasonLength = 500;
    public const int MaxIdempotencyKeyLength = 200;

    public async Task<AdjustmentOutcome> ApplyAsync(long userId, AdjustmentRequest request, CancellationToken cancellationToken)
    {
        if (Invalid(request) is { } invalid)
            return invalid;
        var kind = request.Kind is null ? (request.Amount > 0 ? AssetChangeKind.Reward : AssetChangeKind.Penalty) : ParseKind(request.Kind)!.Value;

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (db.Database.IsNpgsql())
        {
            // SQLite needs no lock: its write transactions begin IMMEDIATE and run one at a time.
            await db.Database.ExecuteSqlAsync($"SELECT id FROM users WHERE id = {userId} FOR UPDATE", cancellationToken);
        }

        var user = await db.Users.AsNoTracking().Where(u => u.Id == userId)
            .Select(u => new { u.CurrentSnapshotId, u.CurrentSnapshotDay }).SingleOrDefaultAsync(cancellationToken);
        if (user is null)
            return new AdjustmentOutcome.UserNotFound();

        if (request.IdempotencyKey is { } key
            && await db.AssetChanges.AsNoTracking().SingleOrDefaultAsync(c => c.UserId == userId && c.IdempotencyKey == key, cancellationToken) is { } earlier)
        {
            return earlier.Delta == request.Amount && earlier.Kind == kind
                ? new AdjustmentOutcome.Replayed(ResultOf(earlier))
                : new AdjustmentOutcome.Rejected(AdjustmentRejection.IdempotencyKeyReused,
                    $"Key '{key}' was already used for a {earlier.Kind} of {earlier.Delta}, not a {kind} of {request.Amount}.");
        }

        if ((user.CurrentSnapshotId, user.CurrentSnapshotDay) is not ({ } snapshotId, { } snapshotDay))
        {
            return new AdjustmentOutcome.Rejected(AdjustmentRejection.NoAssetYet,
                $"User {userId} has no asset snapshot to adjust.");
        }
        // The day as well as the id: on PostgreSQL's monthly partitions it names the one partition to read.
        var snapshot = await db.DailyAssetSnapshots.SingleAsync(s => s.Id == snapshotId && s.SnapshotDay == snapshotDay, cancellationToken);
        // A user not refreshed since a month now rolled up keeps its snapshot as the balance, but it takes no change.
        if (await rolledUpMonths.WhyNotWritableAsync(snapshot.SnapshotDay, cancellationToken) is { } refused)
            return new AdjustmentOutcome.Rejected(AdjustmentRejection.MonthRolledUp, refused);
        var before = snapshot.ClosingAmount;
        var after = before + request.Amount;
        if (request.Amount > 0 ? after < before : after < 0)
        {
            return new AdjustmentOutcome.Rejected(AdjustmentRejection.OutOfRange,
                $"The balance is {before}; adding {request.Amount} would take it below zero or past the largest amount.");
        }

        var now = time.GetUtcNow();
        snapshot.ClosingAmount = after;
        snapshot.NetFlow += request.Amount;
        snapshot.UpdatedAt = now;
        var change = new AssetChange
        {
            UserId = userId,
            Kind = kind,
            AmountBefore = before,
            AmountAfter = after,
            Delta = request.Amount,
            // A reason is prose: whatever PostgreSQL cannot store is dropped rather than failing the request.
            Reason = StoredText.Clean(request.Reason, MaxReasonLength),
            IdempotencyKey = request.IdempotencyKey,
            SnapshotId = snapshot.Id,
            SnapshotDay = snapshot.SnapshotDay,
            ChangedAt = now,
        };
        db.AssetChanges.Add(change);
        await db.SaveChangesAsync(cancellationToken);
        // The day's month may be rolled up already (a user not refreshed since it closed): its roll-up takes the change too.
        await AssetMonthRollups.RollUpAgainAsync(
            db.Database.GetDbConnection(), db.Database.CurrentTransaction?.GetDbTransaction(), [userId], snapshot.SnapshotDay, cancellationToken);
        try
        {
            await transaction.CommitAsync(cancellationToken);
        }
        finally
        {
            // Also when the commit failed: whether it landed may be unknown, and a needless eviction costs one read.
            await seriesCache.EvictAsync([userId], CancellationToken.None);
        }
        return new AdjustmentOutcome.Applied(ResultOf(change));
    }

    private static AdjustmentResult ResultOf(AssetChange change) => new(
        change.UserId, change.Id, change.Kind, change.Delta, change.AmountAfter, AssetNickname.Format(change.AmountAfter), change.SnapshotDay);

    private static AdjustmentOutcome.Rejected? Invalid(AdjustmentRequest request)
    {
        string? problem =
            request.Amount == 0 ? "amount must not be zero"
            : string.IsNullOrWhiteSpace(StoredText.Clean(request.Reason, MaxReasonLength)) ? "reason is required"
            : request.Reason!.Length > MaxReasonLength ? $"reason is longer than {MaxReasonLength} characters"
            : request.IdempotencyKey is { Length: 0 or > MaxIdempotencyKeyLength } ? $"idempotencyKey must be 1 to {MaxIdempotencyKeyLength} characters"
            // A key is an identity, so it is refused rather than cleaned: two keys must never become one.
            : request.IdempotencyKey is { } key && StoredText.Clean(key, MaxIdempotencyKeyLength) != key
                ? "idempotencyKey must not contain control characters or unpaired surrogates"
            : request.Kind is not null && ParseKind(request.Kind) is null ? $"kind '{request.Kind}' is not reward, penalty or correction"
            : request.Kind is not null && ParseKind(request.Kind) is var kind
              && ((kind == AssetChangeKind.Reward && request.Amount < 0) || (kind == AssetChangeKind.Penalty && request.Amount > 0))
                ? $"a {request.Kind} cannot have amount {request.Amount}"
            : null;
        return problem is null ? null : new AdjustmentOutcome.Rejected(AdjustmentRejection.Invalid, problem);
    }

    private static AssetChangeKind? ParseKind(string kind) => kind.ToLowerInvariant() switch
    {
        "reward" => AssetChangeKind.Reward,
        "penalty" => AssetChangeKind.Penalty,
        "correction" => AssetChangeKind.Correction,
        _ => null,
    };
}
