using System.Globalization;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// Which days of the history are only monthly roll-ups now. Months are rolled up oldest first, so they form a prefix
/// of the calendar: every day before <see cref="DailyFromAsync"/> is either in a rolled-up month or would re-base into
/// one, and no write may land there (its roll-up would no longer say what the days did).
/// </summary>
public sealed class RolledUpMonths(DontGoBackDbContext db)
{
    /// <summary>The first day after the newest rolled-up month; null when no month has been rolled up.</summary>
    public async Task<DateOnly?> DailyFromAsync(CancellationToken cancellationToken) =>
        await db.AssetRolledUpMonths.AsNoTracking().MaxAsync(m => (DateOnly?)m.Month, cancellationToken) is { } newest
            ? newest.AddMonths(1)
            : null;

    /// <summary>Why a write on <paramref name="day"/> (a snapshot, an adjustment, the re-base after it) is refused; null when it may be written.</summary>
    public async Task<string?> WhyNotWritableAsync(DateOnly day, CancellationToken cancellationToken)
    {
        if (await DailyFromAsync(cancellationToken) is not { } dailyFrom || day >= dailyFrom)
            return null;
        var month = new DateOnly(day.Year, day.Month, 1);
        var rolledUp = await db.AssetRolledUpMonths.AsNoTracking().AnyAsync(m => m.Month == month, cancellationToken);
        // A day before the oldest rolled-up month has no roll-up of its own, but writing it re-bases the days after it.
        var named = rolledUp ? month : await db.AssetRolledUpMonths.AsNoTracking().Where(m => m.Month > month).MinAsync(m => m.Month, cancellationToken);
        var what = rolledUp
            ? string.Create(CultureInfo.InvariantCulture, $"{day:yyyy-MM-dd} is in {named:yyyy-MM}")
            : string.Create(CultureInfo.InvariantCulture, $"{day:yyyy-MM-dd} would re-base the days of {named:yyyy-MM}");
        return string.Create(CultureInfo.InvariantCulture,
            $"{what}, which has been rolled up into monthly totals ({HistoryOptions.SectionName}:{nameof(HistoryOptions.KeepDailyMonths)} keeps the daily history from {dailyFrom:yyyy-MM-dd}); no snapshot, adjustment or re-base is written before that day.");
    }
}
