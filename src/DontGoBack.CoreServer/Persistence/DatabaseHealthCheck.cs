using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DontGoBack.CoreServer.Persistence;

/// <summary>The database answers and has every migration this build knows applied.</summary>
public sealed class DatabaseHealthCheck(DontGoBackDbContext db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        try
        {
            var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
            return pending.Count == 0
                ? HealthCheckResult.Healthy($"Reachable ({db.Database.ProviderName}), every migration applied.")
                : HealthCheckResult.Unhealthy($"Reachable, but {pending.Count} migrations are not applied: {string.Join(", ", pending)}.");
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            return HealthCheckResult.Unhealthy($"Unreachable: {DatabaseFaults.Describe(e)}");
        }
    }
}
