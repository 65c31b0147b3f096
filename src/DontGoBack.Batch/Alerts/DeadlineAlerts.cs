using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Telemetry;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Alerts;

/// <summary>
/// Raises an alert when a day is past its deadline and not as it should be (<see cref="DeadlineBreach"/>),
/// and resolves it once the day recovers. Every node runs this on each read of the standing; the
/// unique row per day, condition and kind lets exactly one of them make each message, which that node
/// logs and counts and the webhook delivery (<see cref="AlertWebhookSender"/>) posts.
/// </summary>
public sealed partial class DeadlineAlerts(
    BatchEngineDbContext db, BatchRunLedger ledger, RunProgressReader progress, AlertSignal signal, BatchMetrics metrics,
    IOptions<AlertOptions> alerts, IOptions<BatchOptions> batch, TimeProvider time, ILogger<DeadlineAlerts> logger)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Raises what the standing breaches and resolves this job's open alerts whose condition no longer holds.</summary>
    public async Task ReviewAsync(DailySchedule schedule, ScheduleStanding standing, CancellationToken cancellationToken)
    {
        foreach (var breach in standing.Breaches)
        {
            if (await TryWriteAsync(schedule, AlertKind.Raised, breach.Condition, breach.Day, breach.Run, cancellationToken) is { } raised)
            {
                LogRaised(schedule.Job, breach.Day, breach.Condition.ToText(), raised.Summary);
                metrics.AlertMade(schedule.Job, breach.Condition, AlertKind.Raised);
            }
        }

        var open = await db.DeadlineAlerts.AsNoTracking()
            .Where(a => a.JobName == schedule.Job && a.Kind == AlertKind.Raised
                        && !db.DeadlineAlerts.Any(r => r.JobName == a.JobName && r.Day == a.Day
                                                       && r.Condition == a.Condition && r.Kind == AlertKind.Resolved))
            .Select(a => new { a.Day, a.Condition })
            .ToListAsync(cancellationToken);
        LogReviewed(schedule.Job, standing.Breaches.Count, open.Count);
        foreach (var alert in open)
        {
            var run = await ledger.FindAsync(schedule.Job, alert.Day, cancellationToken);
            if (DeadlineBreach.Holds(alert.Condition, run, schedule.MinSuccessRatio))
                continue;
            if (await TryWriteAsync(schedule, AlertKind.Resolved, alert.Condition, alert.Day, run, cancellationToken) is { } resolved)
            {
                LogResolved(schedule.Job, alert.Day, alert.Condition.ToText(), resolved.Summary);
                metrics.AlertMade(schedule.Job, alert.Condition, AlertKind.Resolved);
            }
        }
    }

    /// <summary>
    /// The job's alerts raised and not resolved (of one day, or of every day), oldest day first, each with the text it was raised
    /// with, leaving out any whose condition no longer holds by the day's standing (the next review resolves those).
    /// </summary>
    public async Task<IReadOnlyList<OpenAlert>> OpenAsync(ScheduleStanding standing, DateOnly? day, CancellationToken cancellationToken)
    {
        var job = standing.Schedule.Job;
        var raised = db.DeadlineAlerts.AsNoTracking()
            .Where(a => a.JobName == job && a.Kind == AlertKind.Raised
                        && !db.DeadlineAlerts.Any(r => r.JobName == a.JobName && r.Day == a.Day
                                                       && r.Condition == a.Condition && r.Kind == AlertKind.Resolved));
        if (day is { } only)
            raised = raised.Where(a => a.Day == only);
        var rows = await raised.OrderBy(a => a.Day).ThenBy(a => a.Id)
            .Select(a => new { a.Day, a.Condition, a.Payload }).ToListAsync(cancellationToken);
        var open = new List<OpenAlert>(rows.Count);
        foreach (var row in rows)
        {
            var run = standing.Days.FirstOrDefault(d => d.Day == row.Day) is { } known
                ? known.Run
                : await ledger.FindAsync(job, row.Day, cancellationToken);
            if (DeadlineBreach.Holds(row.Condition, run, standing.Schedule.MinSuccessRatio))
                open.Add(new OpenAlert(row.Day, row.Condition, SummaryOf(row.Payload)));
        }
        return open;
    }

    private static string SummaryOf(string payload)
    {
        try
        {
            return JsonSerializer.Deserialize<AlertMessage>(payload, Json)?.Summary ?? "";
        }
        catch (JsonException)
        {
            return "";
        }
    }

    /// <returns>The message when this node wrote it; null when another node (or an earlier round) already had.</returns>
    private async Task<AlertMessage?> TryWriteAsync(
        DailySchedule schedule, AlertKind kind, DeadlineCondition condition, DateOnly day, BatchRun? run, CancellationToken cancellationToken)
    {
        // Most rounds find the message made already: a read, not an insert that conflicts (and burns an id).
        if (await db.DeadlineAlerts.AnyAsync(
                a => a.JobName == schedule.Job && a.Day == day && a.Condition == condition && a.Kind == kind, cancellationToken))
            return null;
        var now = time.GetUtcNow();
        var node = batch.Value.ResolveNodeName();
        var message = await DescribeAsync(schedule, kind, condition, day, run, node, now, cancellationToken);
        var payload = JsonSerializer.Serialize(message, Json);
        var delivery = alerts.Value.Webhook is null ? AlertDelivery.NoWebhook : AlertDelivery.Pending;
        // The same statement on both providers: the unique key decides which node's message it is.
        var written = await db.Database.ExecuteSqlAsync($"""
            INSERT INTO batch_alerts (job_name, day, condition, kind, created_at, node, payload, delivery, attempts, next_attempt_at)
            VALUES ({schedule.Job}, {day}, {condition.ToString()}, {kind.ToString()}, {now}, {node}, {payload}, {delivery.ToString()}, 0, {now})
            ON CONFLICT (job_name, day, condition, kind) DO NOTHING
            """, cancellationToken);
        if (written == 0)
            return null;
        if (delivery == AlertDelivery.Pending)
            signal.Raise();
        return message;
    }

    private async Task<AlertMessage> DescribeAsync(
        DailySchedule schedule, AlertKind kind, DeadlineCondition condition, DateOnly day, BatchRun? run, string node, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var live = run is null ? null : await progress.LiveAsync(run, cancellationToken);
        var counts = live is not null ? new AlertCounts(live.Expected, live.Seen, live.Success, live.Skipped, live.Failed)
            : run is not null ? new AlertCounts(run.Total, run.Total, run.Success, run.Skipped, run.Failed)
            : new AlertCounts(0, 0, 0, 0, 0);
        double? doneRatio = counts.Seen > 0 ? Math.Round((double)(counts.Seen - counts.Failed) / counts.Seen, 6) : null;
        var deadline = schedule.DeadlineOf(day);
        var what = $"{schedule.Job} for {day:yyyy-MM-dd}";
        var late = $"{what} is not through by its deadline {schedule.CompleteByText} ({schedule.Calendar.ZoneId})";
        var summary = (kind, condition) switch
        {
            (AlertKind.Resolved, _) =>
                $"{what} is through now: {run!.Status.ToText()}, {run.Total - run.Failed} of {run.Total} users done.",
            (_, DeadlineCondition.LowSuccessRatio) =>
                $"{what} went through with {doneRatio ?? 1:P2} of its users done ({counts.Failed} of {counts.Seen} failed), "
                + $"below {schedule.MinSuccessRatioSetting} {schedule.MinSuccessRatio:P2}.",
            _ when run is null => $"{late}: no run has started.",
            _ when run.Status == BatchRunStatus.Running && live is not null => $"{late}: still running, {live.Processed} of {live.Expected} users to do processed.",
            _ => $"{late}: its run is {run.Status.ToText()}" + (run.Error is { } error ? $" ({error})." : "."),
        };
        return new AlertMessage(kind, schedule.Job, day, condition, run?.Status.ToText() ?? "not_started", deadline, counts, doneRatio,
            schedule.MinSuccessRatio, summary, node, now);
    }

    [LoggerMessage(LogLevel.Debug, "Alerts of {Job} reviewed: {Breaches} days breach their deadline, {Open} alerts open")]
    private partial void LogReviewed(string job, int breaches, int open);

    [LoggerMessage(LogLevel.Error, "Alert raised: {Job} {Day:yyyy-MM-dd} {Condition}. {Summary}")]
    private partial void LogRaised(string job, DateOnly day, string condition, string summary);

    [LoggerMessage(LogLevel.Information, "Alert resolved: {Job} {Day:yyyy-MM-dd} {Condition}. {Summary}")]
    private partial void LogResolved(string job, DateOnly day, string condition, string summary);
}

/// <summary>An alert raised and not resolved, with the text it was raised with.</summary>
public sealed record OpenAlert(DateOnly Day, DeadlineCondition Condition, string Summary);

/// <summary>Wakes this process's webhook delivery when it has just written a message, rather than at its next poll.</summary>
public sealed class AlertSignal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next <see cref="Raise"/>.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    public void Raise() => Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
