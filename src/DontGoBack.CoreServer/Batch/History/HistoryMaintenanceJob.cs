using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Batch.History;

/// <summary>
/// Daily: rolls each month that closed into one row per user, and lets the asset history older than
/// History:KeepDailyMonths go (<see cref="AssetHistoryLifecycle"/>): each month past it is sealed and its daily rows
/// are dropped or deleted in batches; the change history past History:ChangeRetentionDays goes too. What it did is the
/// run's own counters.
/// </summary>
/// <remarks>
/// The lifecycle works month by month over every user at once, so a day's work is one unit, not a range of users: its
/// one work id is the lowest user id (no users, no history, nothing to do), which keeps it to one partition on one node
/// of a cluster. Rolling up and deleting skip what is done, so a resumed or repeated run finishes the same months.
/// </remarks>
public sealed class HistoryMaintenanceJob(DontGoBackDbContext db, AssetHistoryLifecycle lifecycle) : IDailyJob
{
    public const string Name = "history-maintenance";

    public static readonly DailyJobDefinition Definition =
        new DailyJobDefinition(Name, "History maintenance", HistoryMaintenanceOptions.SectionName, "maintenance passes")
            .CountedIn<HistoryMaintenanceCounters>();

    public IQueryable<long> WorkIds(DateOnly day) => db.Users.AsNoTracking().OrderBy(u => u.Id).Select(u => u.Id).Take(1);

    public async Task<BatchOutcome> RunAsync(DateOnly day, IdRange range, RunProgress progress, CancellationToken cancellationToken)
    {
        progress.Expect(1);
        // Each committed step is counted as it happens, so an attempt stopped mid-way records the months and rows it let go.
        var steps = new StepCounter(progress);
        if (await lifecycle.CreateMonthsAheadAsync(day, cancellationToken) is > 0 and var created)
            progress.Count(BatchCounters.Of(new HistoryMaintenanceCounters(0, 0, 0, 0, PartitionsCreated: created)));
        await lifecycle.RunAsync(day, steps, cancellationToken);
        progress.Done(success: 1);
        return new BatchOutcome(1, 1, 0, 0, null, 0, progress.Snapshot().Counters);
    }

    /// <summary>Turns the lifecycle's steps into the run's counters as they commit.</summary>
    private sealed class StepCounter(RunProgress progress) : IProgress<HistoryLifecycleStep>
    {
        public void Report(HistoryLifecycleStep step) => progress.Count(BatchCounters.Of(step.Stage switch
        {
            HistoryLifecycleStage.RolledUp => new HistoryMaintenanceCounters(1, Saturated(step.Rows), 0, 0),
            HistoryLifecycleStage.SnapshotsDeleted => new HistoryMaintenanceCounters(0, 0, Saturated(step.Rows), 0),
            HistoryLifecycleStage.PartitionsDropped => new HistoryMaintenanceCounters(
                0, 0, 0, 0, MonthsDropped: 1, PartitionsDropped: Saturated(step.Rows), KilobytesFreed: Saturated(step.Bytes / 1024)),
            // Rounded up: a small month's archive is still an archive written.
            HistoryLifecycleStage.Archived => new HistoryMaintenanceCounters(0, 0, 0, 0, MonthsArchived: 1, KilobytesArchived: Saturated((step.Bytes + 1023) / 1024)),
            _ => new HistoryMaintenanceCounters(0, 0, 0, Saturated(step.Rows)),
        }));
    }

    private static int Saturated(long rows) => (int)Math.Min(rows, int.MaxValue);
}

/// <summary>
/// What a maintenance run did: months rolled up, the roll-up rows written for them, and the daily snapshots and change rows
/// deleted; on PostgreSQL's monthly partitions also the partitions created ahead, the months whose partitions were
/// detached and dropped, how many, and the kilobytes they held (counters are 32-bit: bytes would overflow at 2 GB); with
/// History:ArchiveDirectory set, the months archived before they went and the kilobytes of their compressed files.
/// </summary>
public sealed record HistoryMaintenanceCounters(
    int MonthsRolledUp, int RollupRows, int SnapshotsDeleted, int ChangesDeleted,
    int PartitionsCreated = 0, int MonthsDropped = 0, int PartitionsDropped = 0, int KilobytesFreed = 0,
    int MonthsArchived = 0, int KilobytesArchived = 0) : IJobCounters
{
    public string? Describe()
    {
        List<string> said = [];
        if (this with { PartitionsCreated = 0, MonthsArchived = 0, KilobytesArchived = 0 } != new HistoryMaintenanceCounters(0, 0, 0, 0))
            said.Add($"rolled up {MonthsRolledUp} months into {RollupRows} roll-ups, deleted {SnapshotsDeleted} snapshots and {ChangesDeleted} changes");
        if (MonthsDropped > 0)
            said.Add($"dropped {PartitionsDropped} partitions of {MonthsDropped} months ({KilobytesFreed} KB freed)");
        if (MonthsArchived > 0)
            said.Add($"archived {MonthsArchived} months ({KilobytesArchived} KB compressed)");
        if (PartitionsCreated > 0)
            said.Add($"created {PartitionsCreated} partitions ahead");
        return said.Count == 0 ? null : string.Join(", ", said);
    }
}
