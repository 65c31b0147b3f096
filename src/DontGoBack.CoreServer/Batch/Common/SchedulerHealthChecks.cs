using DontGoBack.CoreServer.Persistence;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>The scheduler that fires the daily jobs (and, clustered, runs partitions) is running, not paused or shut down.</summary>
public sealed class SchedulerHealthCheck(ISchedulerFactory schedulers) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        return await scheduler.GetStatus(cancellationToken) switch
        {
            SchedulerStatus.Running => HealthCheckResult.Healthy($"Running as {scheduler.SchedulerInstanceId}."),
            SchedulerStatus.Standby => HealthCheckResult.Unhealthy("The scheduler is in standby: no trigger fires."),
            SchedulerStatus.Created => HealthCheckResult.Unhealthy("The scheduler has not started yet."),
            var other => HealthCheckResult.Unhealthy($"The scheduler is {other.ToString().ToLowerInvariant()}."),
        };
    }
}

/// <summary>
/// Clustered mode: this node checked in to the cluster recently. Quartz judges it with the rule its
/// recovery applies: overdue past one check-in interval, failed (its partitions re-run elsewhere)
/// past the misfire threshold, three intervals.
/// </summary>
public sealed class ClusterNodeHealthCheck(ISchedulerFactory schedulers, TimeProvider time) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        ClusterNode self;
        try
        {
            self = (await scheduler.QueryClusterNodes(cancellationToken)).Single(node => node.IsCurrentNode);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            return HealthCheckResult.Unhealthy($"Could not read the cluster's check-ins: {DatabaseFaults.Describe(e)}");
        }
        if (self.LastCheckInUtc is not { } last)
            return HealthCheckResult.Unhealthy($"This node ({self.InstanceId}) has not checked in to the cluster yet.");

        var ago = $"This node ({self.InstanceId}) last checked in {Math.Max(0, (time.GetUtcNow() - last).TotalSeconds):0.#} s ago";
        return self.State switch
        {
            ClusterNodeState.Alive => HealthCheckResult.Healthy($"{ago}."),
            ClusterNodeState.Overdue => HealthCheckResult.Degraded($"{ago}, later than Batch:ClusterCheckinInterval."),
            _ => HealthCheckResult.Unhealthy($"{ago}: the other nodes take it for dead and re-run its partitions."),
        };
    }
}
