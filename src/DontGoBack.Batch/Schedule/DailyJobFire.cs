using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Runs;
using Microsoft.EntityFrameworkCore;
using Quartz;

namespace DontGoBack.Batch.Schedule;

public static class DailyJobFire
{
    /// <summary>Job data of a fire that is not a day's own cron fire: start-up catch-up, or the next owed day after one finished.</summary>
    public static JobDataMap CatchUpData => new() { [nameof(DailyJobFire<IDailyJob>.CatchUp)] = "true" };
}

/// <summary>
/// Fires on the job's cron and only triggers its runner: the day comes from the scheduled fire
/// time in the batch zone (the runner adds missed days and skips days that went through), and
/// nothing the run throws may stop the scheduler.
/// </summary>
[DisallowConcurrentExecution]
public sealed partial class DailyJobFire<TJob>(
    DailyJobRunner<TJob> runner, DailyJobSchedule<TJob> schedule, BatchCalendar calendar, BatchEngineDbContext db, ILogger<DailyJobFire<TJob>> logger)
    : IJob
    where TJob : IDailyJob
{
    /// <summary>Bound from the job data: true on a fire that owes no day of its own (start-up, chaining).</summary>
    public bool CatchUp { get; set; }

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (!schedule.Settings.Enabled)
            return;
        // A paused schedule runs nothing by itself: not its cron (Quartz holds that), nor the catch-up at start-up or chaining.
        if (await db.SchedulePauses.AsNoTracking().FirstOrDefaultAsync(p => p.JobName == schedule.Definition.Name, cancellationToken) is { } pause)
        {
            LogPaused(schedule.Definition.LowerTitle, pause.Reason);
            return;
        }
        DateOnly? firedDay = CatchUp ? null : calendar.DayOf(context.ScheduledFireTimeUtc ?? context.FireTimeUtc);
        var day = firedDay ?? calendar.DayOf(context.FireTimeUtc);
        try
        {
            var results = await runner.RunDueDaysAsync(firedDay, cancellationToken);
            if (CatchUp && results.Count > 0)
                LogCaughtUp(results.Count, schedule.Definition.LowerTitle);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            LogCancelled(schedule.Definition.LowerTitle, day.ToString("O"));
        }
        catch (SchedulerException) when (context.Scheduler.Status is SchedulerStatus.ShuttingDown or SchedulerStatus.Shutdown)
        {
            // A fan-out that met the scheduler shutting down scheduled none of its partitions: the day's lease goes stale
            // and another node's watch (or this node's next start) takes the day over.
            LogCancelled(schedule.Definition.LowerTitle, day.ToString("O"));
        }
        catch (Exception e)
        {
            // Logged here, not rethrown: the next day's fire must still happen.
            LogRunCrashed(e, schedule.Definition.LowerTitle, day.ToString("O"));
        }
    }

    [LoggerMessage(LogLevel.Warning, "Scheduled {Job} not run: its schedule is paused ({Reason})")]
    private partial void LogPaused(string job, string reason);

    [LoggerMessage(LogLevel.Information, "Caught up {Count} {Job} days")]
    private partial void LogCaughtUp(int count, string job);

    [LoggerMessage(LogLevel.Warning, "Scheduled {Job} for {Day} was cancelled by shutdown")]
    private partial void LogCancelled(string job, string day);

    [LoggerMessage(LogLevel.Error, "Scheduled {Job} for {Day} crashed")]
    private partial void LogRunCrashed(Exception exception, string job, string day);
}

/// <summary>
/// Once the server has started, fires every enabled job for the days it missed while the server
/// was down (or that a crashed process left unfinished), so they do not wait for the next fire.
/// </summary>
public sealed partial class StartupCatchUp(
    IEnumerable<DailyJobSchedule> jobs, ISchedulerFactory schedulers, IServiceScopeFactory scopes, IHostApplicationLifetime lifetime,
    ILogger<StartupCatchUp> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not before start-up has finished: migrations must be applied and the server listening.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        try
        {
            var scheduler = await schedulers.GetScheduler(stoppingToken);
            // Pauses outlive a restart through their rows: an in-memory scheduler learns them again here, and
            // a clustered store's trigger state, which may have drifted from the rows, is set to follow them.
            await using (var scope = scopes.CreateAsyncScope())
            {
                await scope.ServiceProvider.GetRequiredService<SchedulePauses>()
                    .ReconcileAsync(jobs.Where(j => j.Settings.Enabled).Select(j => j.Definition), stoppingToken);
            }
            foreach (var job in jobs.Where(j => j.Settings.Enabled))
                await scheduler.TriggerJob(job.Definition.FireKey, DailyJobFire.CatchUpData, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The next trigger tries again; a failed catch-up must not take the server down.
            LogCatchUpFailed(e);
        }
    }

    [LoggerMessage(LogLevel.Error, "Catch-up at start-up failed")]
    private partial void LogCatchUpFailed(Exception exception);
}
