namespace DontGoBack.Batch.Runs;

/// <summary>
/// A job's day over all its attempts, the figure every surface shows for a day: a re-run that finds
/// the work done adds its time and nothing else, so the day still reads what it wrote. Attempts keep
/// their own counts (<see cref="RunAttemptView"/>); the run row holds the latest attempt's.
/// </summary>
/// <param name="Written">Ids the day's work wrote, by any attempt.</param>
/// <param name="FailedNow">Ids the latest attempt left failed (while it runs: failed so far).</param>
/// <param name="AlreadyDone">Ids done before the day's first attempt began (found done by it, not due ones aside).</param>
/// <param name="NotDue">Ids not due on the day, e.g. an account that opened later: counted, never work (as the latest attempt found them).</param>
/// <param name="Total">Ids the day covers, as the latest attempt counted them (while it runs: what it counted at its start).</param>
/// <param name="FirstStartedAt">When the day's first attempt started.</param>
/// <param name="LastFinishedAt">When its latest attempt finished; null while one runs.</param>
/// <param name="WorkingMs">The time spent working: the sum of the attempts' durations (a running one's so far), not the span from first start to last finish.</param>
/// <param name="Attempts">How many attempts the day took.</param>
public sealed record RunDayView(
    int Written, int FailedNow, int AlreadyDone, int NotDue, int Total, DateTimeOffset FirstStartedAt, DateTimeOffset? LastFinishedAt, long WorkingMs,
    int Attempts)
{
    /// <summary>The job's own counts summed over the day's attempts (what each attempt did, as <see cref="Written"/> is).</summary>
    public BatchCounters Counters { get; init; }

    /// <summary>The share of the ids due on the day that came out done (written, or done before); 1 when none was due.</summary>
    public double DoneRatio => Total - NotDue <= 0 ? 1 : (double)(Total - NotDue - FailedNow) / (Total - NotDue);

    /// <param name="attempts">The run's attempts, first first; empty for a run recorded before attempts were kept, whose own counts are the day's.</param>
    public static RunDayView Of(BatchRun run, IReadOnlyList<BatchRunAttempt> attempts)
    {
        if (attempts.Count == 0)
        {
            return new RunDayView(run.Success, run.Failed, run.Skipped, 0, run.Total, run.StartedAt, run.FinishedAt,
                run.FinishedAt is { } end ? (long)(end - run.StartedAt).TotalMilliseconds : 0, run.Attempts)
            {
                Counters = BatchCounters.FromJson(run.Counters),
            };
        }
        var (first, latest) = (attempts[0], attempts[^1]);
        var running = latest.Status == BatchRunStatus.Running;
        return new RunDayView(
            Written: attempts.Sum(a => a.Success),
            FailedNow: latest.Failed,
            AlreadyDone: Math.Max(0, first.Skipped - first.NotDue),
            NotDue: attempts.Max(a => a.NotDue),
            Total: running ? Math.Max(latest.Expected, latest.Total) : latest.Total,
            FirstStartedAt: first.StartedAt,
            LastFinishedAt: running ? null : latest.FinishedAt ?? latest.UpdatedAt,
            WorkingMs: attempts.Sum(a => (long)Math.Max(0, ((a.FinishedAt ?? a.UpdatedAt) - a.StartedAt).TotalMilliseconds)),
            Attempts: attempts.Count)
        {
            Counters = BatchCounters.Sum(attempts.Select(a => BatchCounters.FromJson(a.Counters))),
        };
    }
}
