using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Schedule;

/// <summary>
/// Takes over a day whose run was abandoned: the oldest day the schedule owes has a run still marked running whose lease
/// went stale (its process was killed, or stopped in the middle of a fan-out). The claim lets any process take such a day
/// over, but only a fire or a start-up asks for one, and in a cluster whose other nodes keep running that is the next
/// day's fire. Every node's watch looks each round; the claim lets one of them take the day over, as a new attempt.
/// </summary>
public sealed partial class AbandonedRunRescue(
    BatchFanOut fanOut, BatchEngineDbContext db, IOptions<BatchOptions> options, ILogger<AbandonedRunRescue> logger)
{
    /// <returns>True when it fired the job's catch-up for an abandoned day.</returns>
    public async Task<bool> ReviewAsync(DailyJobSchedule schedule, ScheduleStanding standing, CancellationToken cancellationToken)
    {
        // The catch-up claims the oldest owed day first, so that is the one whose lease decides.
        if (standing.Owed.ToRun is not [var oldest, ..]
            || standing.Days.FirstOrDefault(d => d.Day == oldest)?.Run is not { Status: BatchRunStatus.Running } run
            || run.HeartbeatAt >= standing.At - options.Value.LeaseTimeout)
            return false;
        // A paused schedule runs nothing by itself; its fire would only say so, every round.
        if (await db.SchedulePauses.AsNoTracking().AnyAsync(p => p.JobName == schedule.Definition.Name, cancellationToken))
            return false;
        LogAbandoned(schedule.Definition.LowerTitle, run.Id, run.Day.ToString("O"), run.HeartbeatAt, options.Value.LeaseTimeout);
        await fanOut.FireAgainAsync(schedule, cancellationToken);
        return true;
    }

    [LoggerMessage(LogLevel.Warning,
        "{Job} run {RunId} for {Day} was abandoned: running, with no lease renewal since {HeartbeatAt:O} (Batch:LeaseTimeout {LeaseTimeout}); firing the catch-up to take the day over")]
    private partial void LogAbandoned(string job, long runId, string day, DateTimeOffset heartbeatAt, TimeSpan leaseTimeout);
}
