using System.Data.Common;
using System.Globalization;
using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Persistence;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>What one run of the history lifecycle did; all zero when there was nothing to let go.</summary>
/// <param name="MonthsRolledUp">Months rolled up by this run (a month rolled up by an interrupted run and finished here is not counted again).</param>
/// <param name="RollupRowsWritten">Roll-up rows written: one per user with a snapshot in each month rolled up.</param>
/// <param name="SnapshotsDeleted">Daily snapshots deleted from rolled-up months.</param>
/// <param name="ChangesDeleted">Change rows deleted: of rolled-up months and past <see cref="HistoryOptions.ChangeRetentionDays"/>.</param>
/// <param name="PartitionsDropped">PostgreSQL's month partitions detached and dropped (two a month: the change rows' and the snapshots').</param>
/// <param name="BytesFreed">What those partitions held, indexes included, before the drop.</param>
/// <param name="MonthsArchived">Months whose archive this run wrote to <see cref="HistoryOptions.ArchiveDirectory"/> before their rows went.</param>
/// <param name="BytesArchived">The compressed files' bytes those archives hold.</param>
public sealed record HistoryLifecycleResult(
    int MonthsRolledUp, long RollupRowsWritten, long SnapshotsDeleted, long ChangesDeleted, int PartitionsDropped = 0, long BytesFreed = 0,
    int MonthsArchived = 0, long BytesArchived = 0)
{
    public static readonly HistoryLifecycleResult Nothing = new(0, 0, 0, 0);
}

public enum HistoryLifecycleStage
{
    /// <summary>A month's snapshots were rolled up (Rows: roll-up rows written).</summary>
    RolledUp,
    /// <summary>A batch of a rolled-up month's change rows was deleted.</summary>
    ChangesDeleted,
    /// <summary>A batch of a rolled-up month's snapshots was deleted.</summary>
    SnapshotsDeleted,
    /// <summary>The change rows past <see cref="HistoryOptions.ChangeRetentionDays"/> were deleted.</summary>
    ExpiredChangesDeleted,
    /// <summary>A rolled-up month's partitions were detached and dropped (Rows: partitions; Bytes: what they held).</summary>
    PartitionsDropped,
    /// <summary>A rolled-up month's rows were archived before they go (Rows: rows in the files; Bytes: their compressed size).</summary>
    Archived,
}

/// <summary>One committed step of the lifecycle, reported as it happens so a long run shows progress.</summary>
/// <param name="Month">The month worked on; null for the change retention, which is not by month.</param>
/// <param name="Bytes">For <see cref="HistoryLifecycleStage.PartitionsDropped"/>: the bytes freed; for <see cref="HistoryLifecycleStage.Archived"/>: the bytes written.</param>
public sealed record HistoryLifecycleStep(DateOnly? Month, HistoryLifecycleStage Stage, long Rows, long Bytes = 0);

/// <summary>
/// Rolls each month up as soon as it closes and lets the daily history go once it is older than
/// <see cref="HistoryOptions.KeepDailyMonths"/>. Every closed month, oldest first, is rolled into one row per user (one
/// set-based statement, after the month was recorded under a lock that waits for the writes in flight; writers keep its
/// roll-ups current from then on, <see cref="AssetMonthRollups"/>), while its daily rows stay. A month older than the
/// months kept is sealed (no write lands in it any more), then its change rows and its snapshots are deleted in batches
/// of <see cref="HistoryOptions.DeleteBatchSize"/>, each its own transaction. A crash or a cancellation anywhere leaves
/// a state the next run finishes from, with nothing lost or doubled: a month is rolled up once, and its deletes carry on
/// until none is left. A user's current snapshot stays, whatever its day: it is the present balance of a user not
/// refreshed since, and the base of the next refresh (its change rows stay with it). Then the change history older than
/// <see cref="HistoryOptions.ChangeRetentionDays"/> goes, as <see cref="AssetHistoryRetention"/> does it.
/// </summary>
/// <remarks>
/// On PostgreSQL's monthly partitions (<see cref="HistoryPartitions"/>) a sealed month that has its own partitions goes
/// by a detach and a drop of both instead, the users' current snapshots moved out first; a month without (history older
/// than the first partition, in the default partition) and every month on SQLite or on PostgreSQL's plain layout go by the
/// batched deletes.
/// <para>
/// With <see cref="HistoryOptions.ArchiveDirectory"/> set, a sealed month's rows are archived (<see cref="HistoryArchive"/>)
/// before either way starts; an archive that cannot be written fails the run there, the month sealed but all its rows
/// kept, and the next run writes it again before letting them go.
/// </para>
/// </remarks>
public sealed partial class AssetHistoryLifecycle(
    DontGoBackDbContext db,
    HistoryPartitions partitions,
    HistoryArchive archive,
    AssetHistoryRetention changeRetention,
    ISeriesCacheInvalidator seriesCache,
    IOptions<HistoryOptions> options,
    IOptions<DatabaseOptions> database,
    TimeProvider time,
    ILogger<AssetHistoryLifecycle> logger)
{
    /// <summary>
    /// How long one of the lifecycle's statements may take: Database:LongStatementTimeout. A closed month's roll-up reads every
    /// row of the month in one statement (6–16 s at 200,000 users on the bench's machine, so minutes at ten million); the
    /// provider's default of 30 s would fail it from about 400,000 users on, every day.
    /// </summary>
    private TimeSpan StatementTimeout => database.Value.LongStatementTimeout;

    /// <summary>The first day kept daily when the lifecycle runs for <paramref name="day"/>: the first of the month <paramref name="keepDailyMonths"/> − 1 months before.</summary>
    public static DateOnly KeepDailyFrom(DateOnly day, int keepDailyMonths) =>
        new DateOnly(day.Year, day.Month, 1).AddMonths(-(keepDailyMonths - 1));

    /// <param name="day">The day it runs for, in the batch zone: its month counts as the first of the months kept.</param>
    /// <param name="progress">Told of each committed step (a month rolled up, a batch deleted), synchronously.</param>
    public async Task<HistoryLifecycleResult> RunAsync(DateOnly day, IProgress<HistoryLifecycleStep> progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        db.Database.SetCommandTimeout(StatementTimeout);
        var keepFrom = KeepDailyFrom(day, options.Value.KeepDailyMonths);
        var partitioned = await partitions.LayoutAsync(cancellationToken) == HistoryLayout.MonthlyPartitions;
        var (monthsRolledUp, rollupRows, snapshots, changes) = (0, 0L, 0L, 0L);
        var (partitionsDropped, bytesFreed) = (0, 0L);
        var (monthsArchived, bytesArchived) = (0, 0L);
        // Every closed month is rolled up as it closes, so letting it go later is a seal and a drop, and the graph reads it
        // from its roll-ups meanwhile.
        foreach (var month in await MonthsToRollUpAsync(new DateOnly(day.Year, day.Month, 1), cancellationToken))
        {
            var rows = await RollUpAsync(month, cancellationToken);
            monthsRolledUp++;
            rollupRows += rows;
            progress.Report(new HistoryLifecycleStep(month, HistoryLifecycleStage.RolledUp, rows));
            LogRolledUp(Month(month), rows);
        }
        foreach (var month in await MonthsToLetGoAsync(keepFrom, cancellationToken))
        {
            await SealAsync(month, cancellationToken);
            // Before anything of the month goes, by either way: a failure here leaves every row of it for the next run.
            if (archive.Enabled && await archive.WriteAsync(month, cancellationToken) is { Reused: false } archived)
            {
                monthsArchived++;
                bytesArchived += archived.BytesWritten;
                progress.Report(new HistoryLifecycleStep(month, HistoryLifecycleStage.Archived, archived.Snapshots + archived.Changes, archived.BytesWritten));
            }
            if (partitioned && await DropPartitionsAsync(month, progress, cancellationToken) is { } dropped)
            {
                partitionsDropped += dropped.Partitions;
                bytesFreed += dropped.BytesFreed;
                continue;
            }
            var (deletedChanges, deletedSnapshots) = await DeleteDailyRowsAsync(month, progress, cancellationToken);
            changes += deletedChanges;
            snapshots += deletedSnapshots;
            LogDailyRowsDeleted(Month(month), deletedSnapshots, deletedChanges);
        }

        var expired = await changeRetention.DeleteExpiredChangesAsync(day, cancellationToken);
        if (expired > 0)
            progress.Report(new HistoryLifecycleStep(null, HistoryLifecycleStage.ExpiredChangesDeleted, expired));
        return new HistoryLifecycleResult(monthsRolledUp, rollupRows, snapshots, changes + expired, partitionsDropped, bytesFreed, monthsArchived, bytesArchived);
    }

    /// <summary>
    /// On PostgreSQL's monthly partitions: creates the month of <paramref name="day"/> and the next
    /// <see cref="HistoryPartitions.MonthsAhead"/> where missing, and warns when the default partition caught writes that
    /// found no month. Returns the partitions created (two a month); nothing on any other layout.
    /// </summary>
    public async Task<int> CreateMonthsAheadAsync(DateOnly day, CancellationToken cancellationToken)
    {
        if (await partitions.LayoutAsync(cancellationToken) != HistoryLayout.MonthlyPartitions)
            return 0;
        // Creating a month moves the default partition's rows of it in, in one statement.
        db.Database.SetCommandTimeout(StatementTimeout);
        var created = await partitions.CreateAheadAsync(day, cancellationToken);
        foreach (var month in created)
            LogPartitionsCreated(Month(month));
        if (await partitions.StrayDefaultRowsAsync(cancellationToken) is > 0 and var stray)
            LogStrayDefaultRows(stray, HistoryPartitions.DefaultPartitionName(HistoryPartitions.SnapshotTable));
        return created.Count * 2;
    }

    /// <summary>Drops a rolled-up month's partitions and records the month done; null when it has none (its rows go by deletes).</summary>
    private async Task<MonthPartitionsDropped?> DropPartitionsAsync(DateOnly month, IProgress<HistoryLifecycleStep> progress, CancellationToken cancellationToken)
    {
        if (await partitions.DropMonthAsync(month, cancellationToken) is not { } dropped)
            return null;
        progress.Report(new HistoryLifecycleStep(month, HistoryLifecycleStage.PartitionsDropped, dropped.Partitions, dropped.BytesFreed));
        LogPartitionsDropped(Month(month), dropped.Partitions, dropped.BytesFreed, dropped.PointerRowsKept);
        await db.AssetRolledUpMonths.Where(m => m.Month == month)
            .ExecuteUpdateAsync(m => m.SetProperty(x => x.DailyRowsDeletedAt, time.GetUtcNow()), cancellationToken);
        // Every user with a day in the month had it rolled up: their cached graphs lose those days.
        await EvictUsersOfAsync(month, cancellationToken);
        return dropped;
    }

    /// <summary>Evicts the cached graphs of every user with a roll-up of <paramref name="month"/>, a page at a time.</summary>
    private async Task EvictUsersOfAsync(DateOnly month, CancellationToken cancellationToken)
    {
        var (batchSize, after) = (options.Value.DeleteBatchSize, long.MinValue);
        List<long> users;
        do
        {
            users = await db.AssetMonthRollups.AsNoTracking().Where(r => r.Month == month && r.UserId > after)
                .OrderBy(r => r.UserId).Select(r => r.UserId).Take(batchSize).ToListAsync(cancellationToken);
            if (users.Count > 0)
            {
                await seriesCache.EvictAsync(users, CancellationToken.None);
                after = users[^1];
            }
        }
        while (users.Count == batchSize);
    }

    /// <summary>
    /// A month whose roll-up was begun and not finished (an interrupted run), then every month from the one after the
    /// newest rolled up (or the oldest snapshot's) to the last before <paramref name="thisMonth"/>, empty ones too, so the
    /// rolled-up months stay a prefix of the calendar (<see cref="RolledUpMonths"/> refuses a write before the oldest).
    /// </summary>
    private async Task<List<DateOnly>> MonthsToRollUpAsync(DateOnly thisMonth, CancellationToken cancellationToken)
    {
        var work = await db.AssetRolledUpMonths.AsNoTracking().Where(m => m.RolledUpAt == null).OrderBy(m => m.Month)
            .Select(m => m.Month).ToListAsync(cancellationToken);
        // The oldest snapshot is looked for once, on the first run: no index leads with the day.
        var next = await db.AssetRolledUpMonths.AsNoTracking().MaxAsync(m => (DateOnly?)m.Month, cancellationToken) is { } newest
            ? newest.AddMonths(1)
            : await db.DailyAssetSnapshots.AsNoTracking().Where(s => s.SnapshotDay < thisMonth)
                .MinAsync(s => (DateOnly?)s.SnapshotDay, cancellationToken) is { } oldest
                ? new DateOnly(oldest.Year, oldest.Month, 1)
                : thisMonth;
        for (var month = next; month < thisMonth; month = month.AddMonths(1))
            work.Add(month);
        return work;
    }

    /// <summary>Rolled-up months before <paramref name="keepFrom"/> whose daily rows are not all gone yet, oldest first.</summary>
    private async Task<List<DateOnly>> MonthsToLetGoAsync(DateOnly keepFrom, CancellationToken cancellationToken) =>
        await db.AssetRolledUpMonths.AsNoTracking().Where(m => m.Month < keepFrom && m.DailyRowsDeletedAt == null)
            .OrderBy(m => m.Month).Select(m => m.Month).ToListAsync(cancellationToken);

    /// <summary>
    /// Rolls the month up in two transactions. The first records it begun, under a lock (PostgreSQL: SHARE on the history,
    /// which waits for every write in flight and holds new ones for that instant; SQLite: the one writer), so every write
    /// that commits after the second reads the days sees the month recorded and writes its users' roll-ups again itself
    /// (<see cref="AssetMonthRollups.RollUpAgainAsync"/>). The second writes every user's roll-up but those, and records the
    /// month rolled up. Returns the roll-up rows it wrote.
    /// </summary>
    private async Task<long> RollUpAsync(DateOnly month, CancellationToken cancellationToken)
    {
        await using (var begin = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await HoldWritesAsync(cancellationToken);
            if (!await db.AssetRolledUpMonths.AnyAsync(m => m.Month == month, cancellationToken))
            {
                db.AssetRolledUpMonths.Add(new AssetRolledUpMonth { Month = month });
                await db.SaveChangesAsync(cancellationToken);
            }
            await begin.CommitAsync(cancellationToken);
        }
        db.ChangeTracker.Clear();

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var connection = db.Database.GetDbConnection();
        if (connection is SqliteConnection sqlite)
            AssetMonthRollups.UseSeriesProduct(sqlite);
        var rows = await db.Database.ExecuteSqlRawAsync(
            AssetMonthRollups.MonthSql, [Parameter(connection, "month", month), Parameter(connection, "next", month.AddMonths(1))], cancellationToken);
        var now = time.GetUtcNow();
        await db.AssetRolledUpMonths.Where(m => m.Month == month)
            .ExecuteUpdateAsync(m => m.SetProperty(x => x.Users, (long)rows).SetProperty(x => x.RolledUpAt, now), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        // The graph now reads the month whole from its roll-ups, where a range that began inside it summed only its days from there.
        await EvictUsersOfAsync(month, cancellationToken);
        return rows;
    }

    /// <summary>The month leaves the daily history: from the commit on it takes no write (<see cref="RolledUpMonths"/>), and none is in flight.</summary>
    private async Task SealAsync(DateOnly month, CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await HoldWritesAsync(cancellationToken);
        var now = time.GetUtcNow();
        await db.AssetRolledUpMonths.Where(m => m.Month == month && m.SealedAt == null)
            .ExecuteUpdateAsync(m => m.SetProperty(x => x.SealedAt, now), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// In the caller's transaction, waits for the history's writes in flight and holds new ones until it ends: PostgreSQL's
    /// SHARE lock, under <see cref="HistoryPartitions.LockTimeout"/> so it never queues the refresh behind a long wait.
    /// SQLite's write transactions run one at a time already.
    /// </summary>
    private async Task HoldWritesAsync(CancellationToken cancellationToken)
    {
        if (!db.Database.IsNpgsql())
            return;
        await db.Database.ExecuteSqlRawAsync(
            $"SET LOCAL lock_timeout = '{HistoryPartitions.LockTimeout}'; LOCK TABLE {HistoryPartitions.SnapshotTable} IN SHARE MODE", cancellationToken);
    }

    private static DbParameter Parameter(DbConnection connection, string name, DateOnly value)
    {
        using var command = connection.CreateCommand();
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        return parameter;
    }

    /// <summary>
    /// Deletes a rolled-up month's change rows, then its snapshots, but the users' current snapshots and their changes,
    /// a batch per transaction, and records the month done. Each snapshot batch's users lose their cached graphs: their
    /// days are gone (the month points read the same from the roll-ups).
    /// </summary>
    private async Task<(long Changes, long Snapshots)> DeleteDailyRowsAsync(
        DateOnly month, IProgress<HistoryLifecycleStep> progress, CancellationToken cancellationToken)
    {
        var (next, batchSize) = (month.AddMonths(1), options.Value.DeleteBatchSize);
        long changes = 0, snapshots = 0;
        int deleted;
        do
        {
            // Changes first: a snapshot's delete would otherwise cascade to an unbounded number of them.
            deleted = await db.AssetChanges
                .Where(c => db.AssetChanges
                    .Where(old => old.SnapshotDay >= month && old.SnapshotDay < next && !db.Users.Any(u => u.CurrentSnapshotId == old.SnapshotId))
                    .OrderBy(old => old.Id).Take(batchSize).Select(old => old.Id).Contains(c.Id))
                .ExecuteDeleteAsync(cancellationToken);
            changes += deleted;
            if (deleted > 0)
                progress.Report(new HistoryLifecycleStep(month, HistoryLifecycleStage.ChangesDeleted, deleted));
        }
        while (deleted == batchSize);

        List<(long Id, long UserId)> batch;
        do
        {
            await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
            {
                batch = (await db.DailyAssetSnapshots.AsNoTracking()
                        .Where(s => s.SnapshotDay >= month && s.SnapshotDay < next && !db.Users.Any(u => u.CurrentSnapshotId == s.Id))
                        .OrderBy(s => s.Id).Take(batchSize).Select(s => new { s.Id, s.UserId }).ToListAsync(cancellationToken))
                    .Select(s => (s.Id, s.UserId)).ToList();
                var ids = batch.Select(s => s.Id).ToList();
                deleted = batch.Count == 0 ? 0 : await db.DailyAssetSnapshots.Where(s => ids.Contains(s.Id)).ExecuteDeleteAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
            if (batch.Count > 0)
            {
                await seriesCache.EvictAsync(batch.Select(s => s.UserId).Distinct().ToList(), CancellationToken.None);
                snapshots += deleted;
                progress.Report(new HistoryLifecycleStep(month, HistoryLifecycleStage.SnapshotsDeleted, deleted));
            }
        }
        while (batch.Count == batchSize);

        await db.AssetRolledUpMonths.Where(m => m.Month == month)
            .ExecuteUpdateAsync(m => m.SetProperty(x => x.DailyRowsDeletedAt, time.GetUtcNow()), cancellationToken);
        return (changes, snapshots);
    }

    private static string Month(DateOnly month) => month.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Information, Message = "History {Month}: partitions created ahead of need")]
    private partial void LogPartitionsCreated(string month);

    [LoggerMessage(Level = LogLevel.Warning, Message = "History: {Rows} snapshot(s) in {DefaultPartition} are dated within or after the months partitioned: writes that found no month partition; creating their month moves them in")]
    private partial void LogStrayDefaultRows(long rows, string defaultPartition);

    [LoggerMessage(Level = LogLevel.Information, Message = "History {Month}: {Partitions} partition(s) detached and dropped, {Bytes} bytes freed, {Kept} current snapshot(s) kept in the default partition")]
    private partial void LogPartitionsDropped(string month, int partitions, long bytes, long kept);

    [LoggerMessage(Level = LogLevel.Information, Message = "History {Month} rolled up: {Rows} user month(s) written")]
    private partial void LogRolledUp(string month, long rows);

    [LoggerMessage(Level = LogLevel.Information, Message = "History {Month}: {Snapshots} daily snapshot(s) and {Changes} change row(s) deleted")]
    private partial void LogDailyRowsDeleted(string month, long snapshots, long changes);
}
