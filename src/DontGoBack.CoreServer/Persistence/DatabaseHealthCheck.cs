using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DontGoBack.CoreServer.Persistence;

/// <summary>
/// The database answers and has every migration this build knows applied; Degraded while it
/// refuses writes (read-only, storage full) since a request or run met that, until a write probe goes through.
/// </summary>
public sealed class DatabaseHealthCheck(DontGoBackDbContext db, DatabaseWriteRefusals refusals) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        try
        {
            var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
            if (pending.Count > 0)
                return HealthCheckResult.Unhealthy($"Reachable, but {pending.Count} migrations are not applied: {string.Join(", ", pending)}.");
            // Degraded, not Unhealthy: reads still work, and every replica shares the database, so taking this one out helps nobody.
            if (refusals.Current is not null && await refusals.ProbeAsync(db, cancellationToken) is { } refusal)
                return HealthCheckResult.Degraded($"Reachable, every migration applied, but {char.ToLowerInvariant(refusal.Description[0])}{refusal.Description[1..]}.");
            return HealthCheckResult.Healthy($"Reachable ({db.Database.ProviderName}), every migration applied.");
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            return HealthCheckResult.Unhealthy($"Unreachable: {DatabaseFaults.Describe(e)}");
        }
    }
}
