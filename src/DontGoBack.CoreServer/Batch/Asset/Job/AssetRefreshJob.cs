using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Batch.Asset.Job;

/// <summary>
/// The daily asset refresh as a job of the engine: its work covers the ACTIVE users' ids and
/// refreshes a range of them through the use case. Leases, run history, catch-up, clustering and
/// the triggers are the engine's (src/DontGoBack.Batch).
/// </summary>
public sealed class AssetRefreshJob(RefreshAssetsUseCase refreshAssets, AssetRefreshStore store, RolledUpMonths rolledUpMonths, DontGoBackDbContext db)
    : IDailyJob
{
    public const string Name = "asset-refresh";

    /// <summary>Runs of a subset of users (back-fills) are recorded apart, so they never count as the day done.</summary>
    public const string SubsetName = "asset-refresh-subset";

    public static readonly DailyJobDefinition Definition =
        new DailyJobDefinition(Name, "Asset refresh", AssetRefreshOptions.SectionName, "active users", SubsetName).CountedIn<AssetRefreshCounters>();

    public IQueryable<long> WorkIds(DateOnly day) =>
        db.Users.AsNoTracking().Where(u => u.Status == AccountStatus.Active).Select(u => u.Id);

    /// <summary>Active users of the range whose account was open on the day and who lack its snapshot: the failed, and any never reached.</summary>
    public async Task<int?> CountOwedAsync(DateOnly day, IdRange range, CancellationToken cancellationToken) =>
        await store.CountDueAsync(day, range, cancellationToken);

    /// <summary>A day in a month rolled up into monthly totals, or before one (it would re-base it), is never written (<see cref="RolledUpMonths"/>).</summary>
    public Task<string?> WhyNotRunnableAsync(DateOnly day, CancellationToken cancellationToken) =>
        rolledUpMonths.WhyNotWritableAsync(day, cancellationToken);

    public async Task<BatchOutcome> RunAsync(DateOnly day, IdRange range, RunProgress progress, CancellationToken cancellationToken)
    {
        progress.Expect(await store.CountDueAsync(day, range, cancellationToken));
        return await refreshAssets.RunAsync(day, range, progress, cancellationToken);
    }
}
