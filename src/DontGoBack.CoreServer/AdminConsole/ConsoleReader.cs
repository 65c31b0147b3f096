using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.CoreServer.AdminConsole;

/// <param name="Run">Today's run, if it started.</param>
/// <param name="Progress">While it runs: its progress as last written.</param>
/// <param name="LastDays">The last <see cref="ConsoleReader.StripDays"/> days, oldest first, with their runs where there is one.</param>
/// <param name="Standing">Today as the engine's standing judges it, as health and the alerts read it.</param>
/// <param name="Concerns">What the operator is told about the job: its open alerts' texts, then owed days too old for the schedule to run.</param>
/// <param name="Days">Each of those runs' day over all its attempts, by run id: what the card, the strip and the chart show.</param>
public sealed record JobToday(
    DailyJobDefinition Job, DailySchedule Schedule, DateOnly Today, BatchRun? Run, RunProgressView? Progress, DateTimeOffset Deadline,
    DayStanding Standing, DateTimeOffset? NextFire, IReadOnlyList<(DateOnly Day, BatchRun? Run)> LastDays, IReadOnlyList<string> Concerns,
    IReadOnlyDictionary<long, RunDayView> Days)
{
    /// <summary>Today's run's day over all its attempts; null when it has not started.</summary>
    public RunDayView? TodayView => Run is null ? null : Days[Run.Id];
}

/// <summary>A run's day as it stands (a job's own run only: a back-fill's subset has no schedule), with its open alerts' texts.</summary>
public sealed record RunStanding(DayStanding Standing, IReadOnlyList<string> Alerts);

/// <param name="LastCheckin">When it last checked in to the cluster (this process alone: now).</param>
/// <param name="Late">Silent for three check-in intervals: the others take it for dead.</param>
public sealed record NodeCheckin(string Name, DateTimeOffset? LastCheckin, bool Late, bool ThisNode);

public sealed record RunsFilter(string? Job, BatchRunStatus? Status, DateOnly? From, DateOnly? To);

/// <param name="HasNext">More (older) runs follow this page.</param>
/// <param name="Days">Each run's day over all its attempts, by run id.</param>
public sealed record RunsPage(IReadOnlyList<BatchRun> Runs, int Page, int PageSize, bool HasNext, IReadOnlyDictionary<long, RunDayView> Days);

/// <summary>
/// What the console's pages read, each a query the database pages or bounds: today's runs and the
/// last 30 days of every registered job, runs by filter, a run's partitions, the cluster's nodes.
/// </summary>
public sealed class ConsoleReader(
    DontGoBackDbContext db, BatchJobs jobs, BatchCalendar calendar, BatchRunLedger ledger, RunProgressReader progress,
    ScheduleStandingReader standings, DeadlineAlerts alerts, IOptions<BatchOptions> batch, ISchedulerFactory schedulers, TimeProvider time)
{
    public const int StripDays = 30;
    public const int RunsPageSize = 50;

    public async Task<IReadOnlyList<JobToday>> OverviewAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var today = calendar.DayOf(now);
        var first = today.AddDays(-(StripDays - 1));
        var overview = new List<JobToday>();
        foreach (var job in jobs.All)
        {
            var schedule = job.Describe(calendar);
            var listed = await ledger.ListAsync(job.Definition.Name, first, today, cancellationToken);
            var recent = listed.ToDictionary(r => r.Day);
            var run = recent.GetValueOrDefault(today);
            var live = run is null ? null : await progress.LiveAsync(run, cancellationToken);
            var deadline = schedule.DeadlineOf(today);
            var days = Enumerable.Range(0, StripDays).Select(i => first.AddDays(i)).Select(d => (d, recent.GetValueOrDefault(d))).ToList();
            var standing = await standings.ReadAsync(schedule, cancellationToken, live?.Eta);
            var concerns = (await alerts.OpenAsync(standing, day: null, cancellationToken)).Select(a => a.Summary).ToList();
            if (standing.Skipped.Count > 0)
                concerns.AddRange(standing.Problems(batch.Value.MaxCatchUpDays).Take(1));
            overview.Add(new JobToday(job.Definition, schedule, today, run, live, deadline, standing.TodayStanding,
                schedule.Enabled ? schedule.NextFires(now, 1).FirstOrDefault() : null, days, concerns, await ledger.DaysAsync(listed, cancellationToken)));
        }
        return overview;
    }

    /// <summary>The run's day as the engine's standing judges it and its open alerts; null for a run that is not a job's own (a back-fill's subset).</summary>
    public async Task<RunStanding?> StandingOfAsync(BatchRun run, RunProgressView? live, CancellationToken cancellationToken)
    {
        if (!jobs.TryFind(run.JobName, out var job, out _))
            return null;
        var standing = await standings.ReadAsync(job.Describe(calendar), cancellationToken);
        var open = await alerts.OpenAsync(standing, run.Day, cancellationToken);
        return new RunStanding(standing.Judge(run.Day, run, live?.Eta), open.Select(a => a.Summary).ToList());
    }

    /// <summary>One page of runs, newest day first; OFFSET on the (job, day) or (day) index, one row more to know if a next page exists.</summary>
    public async Task<RunsPage> RunsAsync(RunsFilter filter, int page, CancellationToken cancellationToken)
    {
        var runs = db.BatchRuns.AsNoTracking();
        // The run table queried by a name its runs are recorded under (the page checked it with the registry).
        if (filter.Job is { } job)
            runs = runs.Where(r => r.JobName == job);
        if (filter.Status is { } status)
            runs = runs.Where(r => r.Status == status);
        if (filter.From is { } from)
            runs = runs.Where(r => r.Day >= from);
        if (filter.To is { } to)
            runs = runs.Where(r => r.Day <= to);
        var rows = await runs.OrderByDescending(r => r.Day).ThenBy(r => r.JobName)
            .Skip((page - 1) * RunsPageSize).Take(RunsPageSize + 1).ToListAsync(cancellationToken);
        var shown = rows.Take(RunsPageSize).ToList();
        return new RunsPage(shown, page, RunsPageSize, rows.Count > RunsPageSize, await ledger.DaysAsync(shown, cancellationToken));
    }

    public Task<List<BatchRunPartition>> PartitionsAsync(long runId, CancellationToken cancellationToken) =>
        db.BatchRunPartitions.AsNoTracking().Where(p => p.RunId == runId).OrderBy(p => p.PartitionNo).ToListAsync(cancellationToken);

    /// <summary>Clustered: every node of Quartz's scheduler state with its last check-in (as the health check reads it); otherwise this process alone.</summary>
    public async Task<IReadOnlyList<NodeCheckin>> NodesAsync(CancellationToken cancellationToken)
    {
        var settings = batch.Value;
        var now = time.GetUtcNow();
        if (!settings.Clustered)
            return [new NodeCheckin(settings.ResolveNodeName(), now, Late: false, ThisNode: true)];
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        var nodes = await scheduler.QueryClusterNodes(cancellationToken);
        return nodes.OrderBy(n => n.InstanceId, StringComparer.Ordinal)
            .Select(n => new NodeCheckin(n.InstanceId, n.LastCheckInUtc,
                Late: n.LastCheckInUtc is not { } last || now - last > 3 * settings.ClusterCheckinInterval, n.IsCurrentNode))
            .ToList();
    }
}
