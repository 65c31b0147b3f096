using System.Collections.Concurrent;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>Keeps one process from running the same job for the same day twice at once.</summary>
public sealed class DayRunGate
{
    private readonly ConcurrentDictionary<(string Job, DateOnly Day), byte> _running = new();

    /// <returns>A lease to dispose when the run ends, or null when that day is already running.</returns>
    public IDisposable? TryEnter(string job, DateOnly day) =>
        _running.TryAdd((job, day), 0) ? new Lease(this, (job, day)) : null;

    private sealed class Lease(DayRunGate gate, (string, DateOnly) key) : IDisposable
    {
        public void Dispose() => gate._running.TryRemove(key, out _);
    }
}
