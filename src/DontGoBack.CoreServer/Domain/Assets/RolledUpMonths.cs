using System.Globalization;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// Which days of the history are only monthly roll-ups now: the sealed months (<see cref="AssetRolledUpMonth.SealedAt"/>),
/// which left the daily history. Months are sealed oldest first, so they form a prefix of the calendar: every day before
/// <see cref="DailyFromAsync"/> is either in a sealed month or would re-base into one, and no write may land there (its
/// days are going or gone, and its roll-up would no longer say what they did). A month rolled up but not sealed takes
/// writes; the writer keeps its roll-ups current (<see cref="AssetMonthRollups"/>).
/// </summary>
public sealed class RolledUpMonths(DontGoBackDbContext db)
{
    /// <summary>The first day after the newest sealed month; null when no month has been sealed.</summary>
    public async Task<DateOnly?> DailyFromAsync(CancellationToken cancellationToken) =>
        await Sealed().MaxAsync(m => (DateOnly?)m.Month, cancellationToken) is { } newest
            ? newest.AddMonths(1)
            : null;

    /// <summary>Why a write on <paramref name="day"/> (a snapshot, an adjustment, the re-base after it) is refused; null when it may be written.</summary>
    public async Task<string?> WhyNotWritableAsync(DateOnly day, CancellationToken cancellationToken)
    {
        var month = new DateOnly(day.Year, day.Month, 1);
        if (await DailyFromAsync(cancellationToken) is not { } dailyFrom || day >= dailyFrom)
        {
            // Months are rolled up from the oldest snapshot's on: a day before it would make a month outside the roll-ups.
            return await db.AssetRolledUpMonths.AsNoTracking().MinAsync(m => (DateOnly?)m.Month, cancellationToken) is { } oldest && month < oldest
                ? string.Create(CultureInfo.InvariantCulture,
                    $"{day:yyyy-MM-dd} is before {oldest:yyyy-MM}, the oldest month of the history, which has been rolled up into monthly totals; no snapshot is written before {oldest:yyyy-MM-dd}.")
                : null;
        }
        var rolledUp = await Sealed().AnyAsync(m => m.Month == month, cancellationToken);
        // A day before the oldest sealed month has no roll-up of its own, but writing it re-bases the days after it.
        var named = rolledUp ? month : await Sealed().Where(m => m.Month > month).MinAsync(m => m.Month, cancellationToken);
        var what = rolledUp
            ? string.Create(CultureInfo.InvariantCulture, $"{day:yyyy-MM-dd} is in {named:yyyy-MM}")
            : string.Create(CultureInfo.InvariantCulture, $"{day:yyyy-MM-dd} would re-base the days of {named:yyyy-MM}");
        return string.Create(CultureInfo.InvariantCulture,
            $"{what}, which has been rolled up into monthly totals ({HistoryOptions.SectionName}:{nameof(HistoryOptions.KeepDailyMonths)} keeps the daily history from {dailyFrom:yyyy-MM-dd}); no snapshot, adjustment or re-base is written before that day.");
    }

    private IQueryable<AssetRolledUpMonth> Sealed() => db.AssetRolledUpMonths.AsNoTracking().Where(m => m.SealedAt != null);
}
