using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Telemetry;

/// <summary>
/// A daily job's own health, read off its <see cref="ScheduleStanding"/>: Healthy while it keeps its schedule,
/// Degraded once an owed day is past its deadline and not through, or older than the catch-up window (the
/// schedule no longer runs it by itself), or a day went through with too many users failed (at once, not
/// only at the deadline: the console's card says so as soon, and the alert follows at the deadline). Never Unhealthy: lateness is an alert (see
/// <see cref="DeadlineAlerts"/>) and a gauge, not a reason to take the node out of service; every node
/// shares the same run history, so a load balancer would pull them all at once, and a node out of
/// service runs no day sooner. The data carries the figures (days behind, days skipped) for alerting.
/// </summary>
public sealed class DailyJobHealthCheck(DailyJobSchedule schedule, BatchCalendar calendar, ScheduleStandingReader reader, IOptions<BatchOptions> batch)
    : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        var current = schedule.Describe(calendar);
        if (!current.Enabled)
            return HealthCheckResult.Healthy("The schedule is off; runs only start by hand.");
        ScheduleStanding standing;
        try
        {
            standing = await reader.ReadAsync(current, cancellationToken);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            // Degraded as registered: the database's own check is the one that makes the node unready.
            return new HealthCheckResult(context.Registration.FailureStatus, $"Could not read the run history: {DatabaseFaults.Describe(e)}");
        }

        var data = new Dictionary<string, object>
        {
            ["today"] = standing.Today.ToString("O"),
            ["deadline"] = standing.TodayDeadline.ToString("O"),
            // Today as the console's card shows it (its pill), in the same judgement.
            ["todayStanding"] = standing.TodayStanding.State.ToText(),
            ["daysBehind"] = standing.DaysBehind,
            // No day through yet is JSON's null, not an empty string.
            ["lastDayThrough"] = standing.LastThrough?.Day.ToString("O")!,
            ["skippedDays"] = standing.Skipped.Count,
        };
        // The standing's own words, worst first: the console's card shows the same.
        if (standing.Problems(batch.Value.MaxCatchUpDays) is [var worst, ..])
            return HealthCheckResult.Degraded(worst, data: data);
        return HealthCheckResult.Healthy(standing.LastThrough is { } last
            ? $"On schedule; the latest day through is {last.Day:yyyy-MM-dd}."
            : "On schedule; no day has gone through yet.", data);
    }
}

/// <summary>
/// Keeps the schedule gauges (days behind, time since the last day through) fed without a query
/// inside a metrics callback, the deadline alerts current, and no owed day left to an abandoned run
/// (<see cref="AbandonedRunRescue"/>): reads each daily job's standing every
/// Batch:WatchInterval, and at once when the ledger records a run (<see cref="RunRecorded"/>), and hands it to
/// <see cref="BatchMetrics"/> and <see cref="DeadlineAlerts"/>.
/// </summary>
public sealed partial class DailyJobWatch(
    IEnumerable<DailyJobSchedule> schedules, BatchCalendar calendar, IServiceScopeFactory scopes, BatchMetrics metrics, IHostApplicationLifetime lifetime,
    IOptions<BatchOptions> options, RunRecorded recorded, TimeProvider time, ILogger<DailyJobWatch> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not before start-up has finished: the database must be migrated.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            var runRecorded = recorded.Next;
            await RefreshAsync(stoppingToken);
            // A recorded run may have changed the standing: read it again at once rather than up to a round later.
            await Task.WhenAny(Task.Delay(options.Value.WatchInterval, time, stoppingToken), runRecorded);
        }
    }

    /// <summary>Reads every daily job's standing once and reports it.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        foreach (var job in schedules.Where(s => s.Settings.Enabled))
        {
            var schedule = job.Describe(calendar);
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var standing = await scope.ServiceProvider.GetRequiredService<ScheduleStandingReader>().ReadAsync(schedule, cancellationToken);
                metrics.ReportSchedule(schedule.Job, standing.DaysBehind, standing.LastThrough?.FinishedAt);
                await scope.ServiceProvider.GetRequiredService<DeadlineAlerts>().ReviewAsync(schedule, standing, cancellationToken);
                await scope.ServiceProvider.GetRequiredService<AbandonedRunRescue>().ReviewAsync(job, standing, cancellationToken);
            }
            catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
            {
                // The gauges keep their last values; the database's own check and the runs report the outage.
                LogNotRead(schedule.Job, DatabaseFaults.Describe(e));
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Never lets the host stop over a gauge: the next round tries again.
                LogFailed(e, schedule.Job);
            }
        }
    }

    [LoggerMessage(LogLevel.Debug, "Could not read the schedule standing of {Job}: {Reason}")]
    private partial void LogNotRead(string job, string reason);

    [LoggerMessage(LogLevel.Warning, "Reading the schedule standing of {Job} failed")]
    private partial void LogFailed(Exception exception, string job);
}

public static class DailyJobWatchExtensions
{
    /// <summary>
    /// Watches a daily batch job: its health check (named after the job, part of /health/ready,
    /// at worst Degraded: a failure or time-out of the check itself too) and the schedule gauges of <see cref="BatchMetrics"/>.
    /// </summary>
    public static IHostApplicationBuilder AddDailyJobWatch<TJob>(this IHostApplicationBuilder builder, string job)
        where TJob : IDailyJob
    {
        builder.Services.TryAddScoped<ScheduleStandingReader>();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DailyJobWatch>());
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(job,
            services => ActivatorUtilities.CreateInstance<DailyJobHealthCheck>(services, services.GetRequiredService<DailyJobSchedule<TJob>>()),
            HealthStatus.Degraded, [Readiness.Tag], Readiness.CheckTimeout));
        return builder;
    }
}
