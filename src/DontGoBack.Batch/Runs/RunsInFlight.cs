namespace DontGoBack.Batch.Runs;

/// <summary>
/// The runs and partitions working in this process. As the host stops (after shutdown has told them
/// to stop), it waits here for them to record how they ended before its services are disposed: the
/// run's books are kept on contexts of the ledger's own, which need those services, and a run started
/// by an HTTP request may outlive its request (a server that does not drain, a drain that timed out).
/// Without the wait such a run would stay "running" until its lease went stale.
/// </summary>
public sealed class RunsInFlight : IHostedService
{
    private readonly Lock _gate = new();
    private int _count;
    private TaskCompletionSource _idle = Idle();

    /// <summary>Counts a run in until the returned handle is disposed.</summary>
    public IDisposable Enter()
    {
        lock (_gate)
        {
            if (_count++ == 0)
                _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        return new Exit(this);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Waits until no run is in flight, or the host's shutdown timeout ends the wait.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Task idle;
        lock (_gate)
            idle = _idle.Task;
        try
        {
            await idle.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host's shutdown timeout: what is still running is left to its lease, as after a kill.
        }
    }

    private void Leave()
    {
        lock (_gate)
        {
            if (--_count == 0)
                _idle.TrySetResult();
        }
    }

    private static TaskCompletionSource Idle()
    {
        var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        idle.SetResult();
        return idle;
    }

    private sealed class Exit(RunsInFlight runs) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
                runs.Leave();
        }
    }
}
