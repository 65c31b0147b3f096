using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Runs;

/// <summary>A registered daily job as the manual trigger, the CLI and start-up see it, whatever its domain.</summary>
public interface IBatchJobRunner
{
    DailyJobDefinition Definition { get; }

    /// <summary>A manual run (trigger, CLI): runs the day even if it went through, as a continuation of its recorded run.</summary>
    /// <param name="ids">Only these ids (a back-fill's selection), recorded under the subset name; every id when null.</param>
    /// <param name="followProgress">Handed the run's progress before its work starts, to show it (the CLI's bar).</param>
    /// <returns>The result, or null when another attempt (here or in another process) is running that day.</returns>
    Task<BatchResult?> TryRunAsync(DateOnly day, CancellationToken cancellationToken, IdRange? ids = null, Action<RunProgress>? followProgress = null);

    /// <summary>
    /// Whether a recorded day still owes work: it is not through, its record counts failed ids, or the job finds ids
    /// due and not done (a user reactivated since, say). A retry of a day that owes none is not run.
    /// </summary>
    Task<bool> OwesAsync(BatchRun run, CancellationToken cancellationToken);

    /// <summary>Why the job refuses <paramref name="day"/> before it runs (<see cref="IDailyJob.WhyNotRunnableAsync"/>); null when it may run.</summary>
    Task<string?> WhyNotRunnableAsync(DateOnly day, CancellationToken cancellationToken);

    /// <summary>Runs the days the schedule owes, oldest first; see <see cref="DailyJobRunner{TJob}.RunDueDaysAsync"/>.</summary>
    Task<IReadOnlyList<BatchResult>> RunDueDaysAsync(DateOnly? firedDay, CancellationToken cancellationToken);
}

/// <summary>
/// The engine's side of one daily job: which days it owes, and running them — in this process, or
/// in a cluster fanned out into partitions that any node takes — through <see cref="BatchRunLifecycle"/>.
/// </summary>
public sealed partial class DailyJobRunner<TJob>(
    TJob job, DailyJobSchedule<TJob> schedule, BatchRunLifecycle lifecycle, DueDays dueDays, BatchFanOut fanOut,
    IOptions<BatchOptions> batchOptions, ILogger<DailyJobRunner<TJob>> logger) : IBatchJobRunner
    where TJob : IDailyJob
{
    public DailyJobDefinition Definition => schedule.Definition;

    /// <summary>
    /// Runs every day the schedule owes, oldest first: missed days within Batch:MaxCatchUpDays,
    /// then the day just fired, each only if it has not gone through yet. Stops at the first day
    /// that does not go through, since the next day may build on it. Older missed days are
    /// logged, not run. In a cluster, starts only the oldest owed day; the run that finishes it
    /// fires the job again for the next one.
    /// </summary>
    /// <param name="firedDay">The day a cron fire is for; null at start-up and for a chained fire.</param>
    public async Task<IReadOnlyList<BatchResult>> RunDueDaysAsync(DateOnly? firedDay, CancellationToken cancellationToken)
    {
        var due = await dueDays.FindAsync(Definition.Name, schedule.Settings.Cron, firedDay, cancellationToken);
        if (due.TooOld.Count > 0)
            LogTooOld(due.TooOld.Count, Definition.LowerTitle, due.TooOld[0].ToString("O"), due.TooOld[^1].ToString("O"), batchOptions.Value.MaxCatchUpDays);
        if (due.ToRun.Count == 0)
            LogNothingOwed(Definition.Title);
        // A due day the job refuses (it should not happen: due days are recent) is skipped, recorded nowhere, its reason logged once.
        var toRun = new List<DateOnly>(due.ToRun.Count);
        foreach (var owed in due.ToRun)
        {
            if (await WhyNotRunnableAsync(owed, cancellationToken) is { } refused)
                LogDayNotRunnable(Definition.Title, owed.ToString("O"), refused);
            else
                toRun.Add(owed);
        }
        if (batchOptions.Value.Clustered)
        {
            if (toRun.Count > 0)
                await FanOutAsync(toRun[0], cancellationToken);
            return [];
        }

        var results = new List<BatchResult>();
        foreach (var day in toRun)
        {
            var result = await lifecycle.RunAsync(Definition, Definition.Name, day, rerunCompleted: false,
                (progress, token) => job.RunAsync(day, IdRange.All, progress, token), cancellationToken);
            if (result is null)
                break;
            results.Add(result);
            if (!result.Status.IsThrough())
                break;
        }
        return results;
    }

    public async Task<bool> OwesAsync(BatchRun run, CancellationToken cancellationToken)
    {
        // A day not through, or recorded with failed ids, is owed whatever its ids say now: a pass is what sets its record right.
        if (!run.IsThrough || run.Failed > 0)
            return true;
        return await job.CountOwedAsync(run.Day, IdRange.All, cancellationToken) > 0;
    }

    /// <remarks>
    /// A database fault while asking is no answer: the day goes on to the lifecycle, which meets the same fault and
    /// answers and records it as it answers any outage (a 503 with the failed result, a run left to its lease), and the
    /// job's own check inside the run still stands.
    /// </remarks>
    public async Task<string?> WhyNotRunnableAsync(DateOnly day, CancellationToken cancellationToken)
    {
        try
        {
            return await job.WhyNotRunnableAsync(day, cancellationToken);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            return null;
        }
    }

    public Task<BatchResult?> TryRunAsync(
        DateOnly day, CancellationToken cancellationToken, IdRange? ids = null, Action<RunProgress>? followProgress = null) =>
        lifecycle.RunAsync(Definition, ids is null ? Definition.Name : Definition.SubsetName ?? Definition.Name, day, rerunCompleted: true,
            (progress, token) => job.RunAsync(day, ids ?? IdRange.All, progress, token), cancellationToken, followProgress);

    /// <summary>Clustered mode: one partition of a fanned-out day; the one that finalises a run that went through fires the next owed day.</summary>
    public async Task RunPartitionAsync(PartitionOrder order, CancellationToken cancellationToken)
    {
        var result = await lifecycle.RunPartitionAsync(Definition, order.Claim, order.Day, order.Partition,
            (progress, token) => job.RunAsync(order.Day, order.Ids, progress, token), cancellationToken);
        await ChainIfThroughAsync(result);
    }

    private async Task FanOutAsync(DateOnly day, CancellationToken cancellationToken)
    {
        var claimed = await fanOut.StartAsync(schedule, day, job.WorkIds(day), cancellationToken);
        if (claimed is { Partitions: 0 } started)
            await ChainIfThroughAsync(await lifecycle.FinishWithoutPartitionsAsync(started.Claim, day, cancellationToken));
    }

    /// <summary>
    /// The next owed day starts now rather than at the next fire; a failed day waits for the next
    /// fire or start-up instead of being retried in a loop against a server that is down.
    /// </summary>
    private async Task ChainIfThroughAsync(BatchResult? result)
    {
        if (result?.Status.IsThrough() is true)
            await fanOut.FireAgainAsync(schedule, CancellationToken.None);
    }

    [LoggerMessage(LogLevel.Warning, "{Job}: due day {Day} was not run and nothing was recorded for it: {Reason}")]
    private partial void LogDayNotRunnable(string job, string day, string reason);

    // Once per fire (daily), so an operator sees the schedule ran and found every day done.
    [LoggerMessage(LogLevel.Information, "{Job}: no day owed, every due day went through")]
    private partial void LogNothingOwed(string job);

    // A count and a range, not the list: after a long pause the list ran to hundreds of dates on every start.
    [LoggerMessage(LogLevel.Warning,
        "{Count} missed {Job} days from {First} to {Last} are older than Batch:MaxCatchUpDays ({MaxCatchUpDays}) and were not run; `backfill` or the manual trigger runs them")]
    private partial void LogTooOld(int count, string job, string first, string last, int maxCatchUpDays);
}
