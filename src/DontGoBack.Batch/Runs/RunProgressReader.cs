using DontGoBack.Batch.Storage;

namespace DontGoBack.Batch.Runs;

/// <summary>
/// A running attempt's progress as last written: the users it had to process (<see cref="Expected"/>, counted at its
/// start) and how many of them it has (<see cref="Processed"/>), every user it went through (<see cref="Seen"/>,
/// skipped ones too) by outcome, the rate so far and when it should be through.
/// </summary>
/// <param name="Percent">Of <see cref="Expected"/>, processed; 100 when it had nothing to do.</param>
/// <param name="UsersPerSecond">Users processed per second of the attempt so far: the skipped needed no work, so they are no throughput.</param>
/// <param name="At">When it was written (the run's last heartbeat).</param>
/// <param name="Eta">When the users left should be processed at the rate so far; null until there is a rate.</param>
public sealed record RunProgressView(
    int Expected, int Seen, int Success, int Skipped, int Failed, int Processed, double Percent, double UsersPerSecond, DateTimeOffset At,
    DateTimeOffset? Eta);

/// <summary>One attempt at a run, as recorded.</summary>
/// <param name="Expected">The users it had to process, counted at its start.</param>
/// <param name="FoundNothingToDo">See <see cref="BatchRunAttempt.FoundNothingToDo"/>.</param>
/// <param name="UsersPerSecond">See <see cref="BatchRunAttempt.UsersPerSecond"/>: null when it found nothing to do.</param>
/// <param name="NotDue">Of the skipped, ids the day did not apply to (an account opened after the day).</param>
public sealed record RunAttemptView(
    int Attempt, BatchRunStatus Status, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, int Expected, int Total, int Success, int Skipped,
    int Failed, string? Error, bool FoundNothingToDo, double? UsersPerSecond, int NotDue, BatchCounters Counters)
{
    public static RunAttemptView Of(BatchRunAttempt attempt) => new(attempt.Attempt, attempt.Status, attempt.StartedAt, attempt.FinishedAt,
        attempt.Expected, attempt.Total, attempt.Success, attempt.Skipped, attempt.Failed, attempt.Error, attempt.FoundNothingToDo,
        attempt.UsersPerSecond, attempt.NotDue, BatchCounters.FromJson(attempt.Counters));
}

/// <summary>Reads what a run's record does not hold by itself: its live progress while it runs, and its attempts.</summary>
public sealed class RunProgressReader(BatchRunLedger ledger)
{
    /// <returns>Null unless the run is running.</returns>
    public async Task<RunProgressView?> LiveAsync(BatchRun run, CancellationToken cancellationToken)
    {
        if (run.Status != BatchRunStatus.Running)
            return null;
        var progress = await ledger.PartitionProgressAsync(run.Id, cancellationToken);
        var current = (await ledger.AttemptsAsync(run.Id, cancellationToken)).LastOrDefault(a => a.Attempt == run.Attempts);
        var at = run.HeartbeatAt;
        if (progress is null)
        {
            progress = current?.Counts ?? new RunProgressCounts(0, 0, 0, 0, 0);
            // The attempt's counts and their time are one write: its time is theirs. The run's heartbeat is written just
            // before them, so read between the two it is newer than the counts, and would date them too late.
            if (current is not null)
                at = current.UpdatedAt;
        }
        // Over the attempt's own time, whatever the run's row says of the day's start.
        return Describe(progress, current?.StartedAt ?? run.StartedAt, at);
    }

    /// <summary>
    /// The rate is of the users processed over the attempt so far; the ETA assumes it holds for the users left.
    /// Users skipped as done already are neither: a continuation passes over thousands in its first instants,
    /// which would make its rate soar and its ETA come far too early.
    /// </summary>
    /// <param name="startedAt">When the attempt started.</param>
    public static RunProgressView Describe(RunProgressCounts progress, DateTimeOffset startedAt, DateTimeOffset at)
    {
        var seconds = (at - startedAt).TotalSeconds;
        var rate = seconds > 0 ? progress.Processed / seconds : 0;
        // Nothing left once it went through some: through as soon as it has passed over the rest (nothing to do, or all processed).
        DateTimeOffset? eta = progress.Left == 0 && progress.Seen > 0 ? at
            : rate > 0 ? at + TimeSpan.FromSeconds(progress.Left / rate)
            : null;
        var percent = progress.Expected > 0 ? 100.0 * Math.Min(progress.Processed, progress.Expected) / progress.Expected
            : progress.Seen > 0 ? 100
            : 0;
        return new RunProgressView(progress.Expected, progress.Seen, progress.Success, progress.Skipped, progress.Failed, progress.Processed,
            Math.Round(percent, 1), Math.Round(rate, 1), at, eta);
    }

    /// <summary>The run's attempts, first first, and its day over all of them.</summary>
    public async Task<(IReadOnlyList<RunAttemptView> Attempts, RunDayView Day)> AttemptsAsync(BatchRun run, CancellationToken cancellationToken)
    {
        var attempts = await ledger.AttemptsAsync(run.Id, cancellationToken);
        return (attempts.ConvertAll(RunAttemptView.Of), RunDayView.Of(run, attempts));
    }
}
