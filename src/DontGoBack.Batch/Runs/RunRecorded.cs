namespace DontGoBack.Batch.Runs;

/// <summary>
/// The engine's notice that a run's outcome was recorded, whichever path recorded it (a run here, a cluster's last
/// partition, a cancelled or empty clustered run): the ledger raises it as it commits a run's end, and the schedule
/// watch (<see cref="DailyJobWatch"/>) reads the standing again at once rather than up to a round later.
/// </summary>
public sealed class RunRecorded
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next <see cref="Raise"/>.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    public void Raise() => Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
