using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.Batch.Telemetry;

/// <summary>The scheduler that fires the daily jobs (and, clustered, runs partitions) is running, not paused or shut down.</summary>
public sealed class SchedulerHealthCheck(ISchedulerFactory schedulers, IOptions<BatchOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        return await scheduler.GetStatus(cancellationToken) switch
        {
            // The node's one name: clustered, Quartz's instance id is that name too; alone, Quartz has none of its own.
            SchedulerStatus.Running => HealthCheckResult.Healthy($"Running on node {options.Value.ResolveNodeName()}."),
            SchedulerStatus.Standby => HealthCheckResult.Unhealthy("The scheduler is in standby: no trigger fires."),
            SchedulerStatus.Created => HealthCheckResult.Unhealthy("The scheduler has not started yet."),
            var other => HealthCheckResult.Unhealthy($"The scheduler is {other.ToString().ToLowerInvariant()}."),
        };
    }
}

/// <summary>
/// Clustered mode: this node checked in to the cluster recently. Quartz calls a node overdue past
/// one check-in interval (Degraded here); a node silent for three intervals (the misfire threshold
/// we give Quartz) is taken for dead by the others, which re-run its partitions (Unhealthy). Quartz
/// never calls its own node failed, so that last judgement is made here, on the same clock.
/// </summary>
public sealed class ClusterNodeHealthCheck(ISchedulerFactory schedulers, IOptions<BatchOptions> options, TimeProvider time) : IHealthCheck
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

        var age = time.GetUtcNow() - last;
        var ago = $"This node ({self.InstanceId}) last checked in {Math.Max(0, age.TotalSeconds):0.#} s ago";
        var interval = options.Value.ClusterCheckinInterval;
        return age > 3 * interval
            ? HealthCheckResult.Unhealthy($"{ago}, more than three times Batch:ClusterCheckinInterval ({interval.TotalSeconds:0.#} s): "
                                          + "the other nodes take it for dead and re-run its partitions.")
            : self.State == ClusterNodeState.Alive
                ? HealthCheckResult.Healthy($"{ago}.")
                : HealthCheckResult.Degraded($"{ago}, later than Batch:ClusterCheckinInterval ({interval.TotalSeconds:0.#} s).");
    }
}
