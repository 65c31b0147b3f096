namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>A running run's progress as last written: users seen of those counted at its start, by outcome, the rate so far and when it should be through.</summary>
/// <param name="At">When it was written (the run's last heartbeat).</param>
/// <param name="Eta">When the rest should be through at the rate so far; null until there is a rate.</param>
public sealed record RunProgressView(
    int Expected, int Seen, int Success, int Skipped, int Failed, double UsersPerSecond, DateTimeOffset At, DateTimeOffset? Eta);

/// <summary>One attempt at a run, as recorded.</summary>
public sealed record RunAttemptView(
    int Attempt, BatchRunStatus Status, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, int Expected, int Total, int Success, int Skipped,
    int Failed, string? Error, int NotDue = 0)
{
    public static RunAttemptView Of(BatchRunAttempt attempt) => new(attempt.Attempt, attempt.Status, attempt.StartedAt, attempt.FinishedAt,
        attempt.Expected, attempt.Total, attempt.Success, attempt.Skipped, attempt.Failed, attempt.Error, attempt.NotDue);
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
        var at = run.HeartbeatAt;
        if (progress is null)
        {
            var current = (await ledger.AttemptsAsync(run.Id, cancellationToken)).LastOrDefault(a => a.Attempt == run.Attempts);
            progress = current is null
                ? new RunProgressSnapshot(0, 0, 0, 0, 0)
                : new RunProgressSnapshot(current.Expected, current.Total, current.Success, current.Skipped, current.Failed);
            // The attempt's counts and their time are one write; the run row read before it may hold an older heartbeat.
            if (current is not null && current.UpdatedAt > at)
                at = current.UpdatedAt;
        }
        return Describe(progress, run.StartedAt, at);
    }

    /// <summary>The rate is over the attempt so far; the ETA assumes it holds for the rest.</summary>
    public static RunProgressView Describe(RunProgressSnapshot progress, DateTimeOffset startedAt, DateTimeOffset at)
    {
        var seconds = (at - startedAt).TotalSeconds;
        var rate = seconds > 0 ? progress.Seen / seconds : 0;
        var left = Math.Max(0, progress.Expected - progress.Seen);
        DateTimeOffset? eta = rate > 0 ? at + TimeSpan.FromSeconds(left / rate) : null;
        return new RunProgressView(progress.Expected, progress.Seen, progress.Success, progress.Skipped, progress.Failed, Math.Round(rate, 1), at, eta);
    }

    /// <summary>The run's attempts, first first, and its day over all of them.</summary>
    public async Task<(IReadOnlyList<RunAttemptView> Attempts, RunDayView Day)> AttemptsAsync(BatchRun run, CancellationToken cancellationToken)
    {
        var attempts = await ledger.AttemptsAsync(run.Id, cancellationToken);
        return (attempts.ConvertAll(RunAttemptView.Of), RunDayView.Of(run, attempts));
    }
}
