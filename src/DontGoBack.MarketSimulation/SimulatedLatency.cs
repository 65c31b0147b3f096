using System.Diagnostics;

namespace DontGoBack.MarketSimulation;

/// <summary>
/// The stand-in's added latency, kept to what it is configured to be. <see cref="Task.Delay(int)"/>
/// runs on the runtime's shared timer, which on Linux fires 2–3 ms late (measured here: a median of
/// 52.5 ms for a 50 ms delay); at 256 calls in flight that alone would put the bench's ceiling 5%
/// below 256 / latency. One thread instead sleeps until the earliest deadline, measured on the
/// high-resolution clock and rounded up to the next millisecond, so an answer is never early and
/// late by about half a millisecond.
/// </summary>
public sealed class SimulatedLatency : IDisposable
{
    private readonly PriorityQueue<TaskCompletionSource, long> _waiting = new();
    // Monitor's wait and pulse, so a plain object rather than System.Threading.Lock.
    private readonly object _lock = new();
    private readonly Thread _thread;
    private bool _disposed;

    public SimulatedLatency()
    {
        _thread = new Thread(CompleteWhenDue) { IsBackground = true, Name = "Simulated latency" };
        _thread.Start();
    }

    /// <summary>Completes no sooner than <paramref name="delay"/> from now.</summary>
    public async Task WaitAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        if (delay <= TimeSpan.Zero)
            return;
        // Continuations run on the thread pool, never on the timing thread.
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Rounded up: a deadline a tick short would be an answer a tick early.
        var due = Stopwatch.GetTimestamp() + (long)Math.Ceiling(delay.TotalSeconds * Stopwatch.Frequency);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var earliest = _waiting.TryPeek(out _, out var head) ? head : long.MaxValue;
            _waiting.Enqueue(done, due);
            if (due < earliest)
                Monitor.Pulse(_lock);
        }
        // A cancelled wait stays queued until due; completing it then does nothing.
        await using var cancelled = cancellationToken.UnsafeRegister(
            static (state, token) => ((TaskCompletionSource)state!).TrySetCanceled(token), done);
        await done.Task;
    }

    /// <summary>Stops the timing thread; waits still pending end as cancelled.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
            Monitor.PulseAll(_lock);
        }
        _thread.Join();
        while (_waiting.TryDequeue(out var waiter, out _))
            waiter.TrySetCanceled();
    }

    private void CompleteWhenDue()
    {
        var due = new List<TaskCompletionSource>();
        while (true)
        {
            lock (_lock)
            {
                while (true)
                {
                    if (_disposed)
                        return;
                    var now = Stopwatch.GetTimestamp();
                    while (_waiting.TryPeek(out _, out var at) && at <= now)
                        due.Add(_waiting.Dequeue());
                    if (due.Count > 0)
                        break;
                    var sleep = _waiting.TryPeek(out _, out var earliest)
                        ? (int)Math.Min(int.MaxValue, Math.Ceiling((earliest - now) * 1000.0 / Stopwatch.Frequency))
                        : Timeout.Infinite;
                    Monitor.Wait(_lock, sleep);
                }
            }
            foreach (var waiter in due)
                waiter.TrySetResult();
            due.Clear();
        }
    }
}
