using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.CoreServer.AdminConsole;

/// <summary>A partition a node took and has not finished, of a running run, as its node last wrote it.</summary>
/// <param name="Expected">The users it had to process (not done yet), counted at its start.</param>
/// <param name="Seen">Users it went through so far, skipped ones too.</param>
/// <param name="TakenAt">When its node started it (Quartz's firing); null when the cluster has no firing for it (e.g. its node died).</param>
/// <param name="UsersPerSecond">Work done (users written or failed) per second since <paramref name="TakenAt"/>; null without it.</param>
public sealed record PartitionInFlight(
    long RunId, string Job, DateOnly Day, int PartitionNo, long FirstUserId, long LastUserId,
    int Expected, int Seen, int Success, int Skipped, int Failed, DateTimeOffset? TakenAt, double? UsersPerSecond)
{
    /// <summary>Of the <see cref="Expected"/> users it had to process, those it did (written or failed): users skipped as done were no work.</summary>
    public int Processed => Success + Failed;
}

/// <summary>A node of the cluster with the partitions it works on now.</summary>
/// <param name="Node">Its check-in; a node that holds partitions but never checked in (no row in Quartz's state) has none.</param>
public sealed record NodeWork(string Name, NodeCheckin? Node, IReadOnlyList<PartitionInFlight> Partitions)
{
    /// <summary>Users its partitions in flight processed so far (written or failed).</summary>
    public int Processed => Partitions.Sum(p => p.Processed);

    /// <summary>The node's pace: its partitions work side by side, so their rates add up; null when none has one.</summary>
    public double? UsersPerSecond => Partitions.Any(p => p.UsersPerSecond is not null) ? Partitions.Sum(p => p.UsersPerSecond ?? 0) : null;
}

/// <summary>A running run's partitions that no node has taken yet.</summary>
public sealed record RunWaiting(long RunId, string Job, DateOnly Day, int Partitions);

/// <summary>The overview's cluster table: every node and, clustered, its partitions in flight, and the partitions still waiting for a node.</summary>
public sealed record ClusterView(bool Clustered, IReadOnlyList<NodeWork> Nodes, IReadOnlyList<RunWaiting> Waiting);

/// <summary>
/// Reads each node's work in flight from what the nodes already persist: the running runs' partitions
/// (taken by a node, not yet finished, with the counts its lease renewals write) and Quartz's firings
/// of them across the cluster (when the node started each), joined by the node's one name.
/// </summary>
public sealed class ClusterWorkReader(
    ConsoleReader reader, DontGoBackDbContext db, BatchJobs jobs, IOptions<BatchOptions> batch, ISchedulerFactory schedulers, TimeProvider time)
{
    public async Task<ClusterView> ReadAsync(CancellationToken cancellationToken)
    {
        var nodes = await reader.NodesAsync(cancellationToken);
        if (!batch.Value.Clustered)
            return new ClusterView(false, nodes.Select(n => new NodeWork(n.Name, n, [])).ToList(), []);

        // One running run per job and day at most, each with at most a few partitions per node in flight.
        var taken = await (
            from run in db.BatchRuns.AsNoTracking()
            where run.Status == BatchRunStatus.Running
            join partition in db.BatchRunPartitions.AsNoTracking() on run.Id equals partition.RunId
            where partition.Status == BatchPartitionStatus.Pending && partition.Node != null
            orderby run.Day, run.JobName, partition.PartitionNo
            select new { run.JobName, run.Day, run.Attempts, Partition = partition })
            .ToListAsync(cancellationToken);

        var waiting = await (
            from run in db.BatchRuns.AsNoTracking()
            where run.Status == BatchRunStatus.Running
            join partition in db.BatchRunPartitions.AsNoTracking() on run.Id equals partition.RunId
            where partition.Status == BatchPartitionStatus.Pending && partition.Node == null
            group partition by new { run.Id, run.JobName, run.Day } into queued
            select new { queued.Key.Id, queued.Key.JobName, queued.Key.Day, Count = queued.Count() })
            .ToListAsync(cancellationToken);

        var firings = new Dictionary<TriggerKey, DateTimeOffset>();
        if (taken.Count > 0)
        {
            var scheduler = await schedulers.GetScheduler(cancellationToken);
            // Running firings are bounded by the cluster's threads (Batch:PartitionsPerNode + 1 per node).
            foreach (var group in taken.Select(t => jobs.TryFindRun(t.JobName, out var job, out _) ? job.Definition.PartitionGroup : null).OfType<string>().Distinct())
            {
                var running = await scheduler.QueryFireInstances(
                    new FireInstanceQuery { TriggerGroup = GroupMatcher<TriggerKey>.GroupEquals(group), Take = PagedQuery.All }, cancellationToken);
                foreach (var firing in running.Items)
                    firings[firing.TriggerKey] = firing.FireTimeUtc;
            }
        }

        var now = time.GetUtcNow();
        var work = taken.Select(t =>
        {
            var p = t.Partition;
            var definition = jobs.TryFindRun(t.JobName, out var job, out _) ? job.Definition : null;
            var key = new TriggerKey(BatchFanOut.PartitionJobName(p.RunId, t.Attempts, p.PartitionNo), definition?.PartitionGroup ?? "");
            DateTimeOffset? takenAt = firings.TryGetValue(key, out var fired) ? fired : null;
            return (Node: p.Node!, Partition: new PartitionInFlight(p.RunId, definition?.Title ?? t.JobName, t.Day, p.PartitionNo,
                p.FirstUserId, p.LastUserId, p.Expected, p.Total, p.Success, p.Skipped, p.Failed, takenAt,
                takenAt is { } start ? WorkRate(p.Success, p.Failed, start, now) : null));
        }).ToLookup(w => w.Node, w => w.Partition, StringComparer.Ordinal);

        var known = nodes.Select(n => new NodeWork(n.Name, n, work[n.Name].ToList()));
        // Partitions held by a name Quartz does not list (a node gone from its state): shown, not hidden.
        var strangers = work.Where(g => nodes.All(n => n.Name != g.Key)).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new NodeWork(g.Key, null, g.ToList()));
        return new ClusterView(true, known.Concat(strangers).ToList(), waiting.OrderBy(w => w.Day).ThenBy(w => w.JobName, StringComparer.Ordinal)
            .Select(w => new RunWaiting(w.Id, (jobs.TryFindRun(w.JobName, out var job, out _) ? job.Definition.Title : w.JobName), w.Day, w.Count)).ToList());
    }

    /// <summary>
    /// Work done per second: users written or failed, not users skipped as already done (they cost
    /// no call and would make a pass over finished work look fast); over the time since the start,
    /// clamped at zero since the start is stamped on the working node's clock.
    /// </summary>
    public static double WorkRate(int success, int failed, DateTimeOffset startedAt, DateTimeOffset now)
    {
        var seconds = (now - startedAt).TotalSeconds;
        return seconds > 0 ? (success + failed) / seconds : 0;
    }
}
