using System.Diagnostics;
using DontGoBack.MarketSimulation;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class SimulatedLatencyTests : IDisposable
{
    private readonly SimulatedLatency _latency = new();

    public void Dispose() => _latency.Dispose();

    [Fact]
    public async Task No_answer_is_early_whatever_the_order_the_waits_came_in()
    {
        // Longest first, so each new wait becomes the earliest and must wake the timing thread
        // (a missed wake-up leaves them all waiting, and the bound below fails the test).
        var delays = Enumerable.Range(1, 40).Select(i => TimeSpan.FromMilliseconds(205 - 5 * i)).ToList();
        var waits = delays.Select(async delay =>
        {
            var started = Stopwatch.GetTimestamp();
            await _latency.WaitAsync(delay, CancellationToken.None);
            return (delay, Elapsed: Stopwatch.GetElapsedTime(started));
        }).ToList();

        var ended = await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.All(ended, wait => Assert.True(wait.Elapsed >= wait.delay,
            $"a wait of {wait.delay.TotalMilliseconds} ms ended after {wait.Elapsed.TotalMilliseconds:0.###} ms"));
    }

    [Fact]
    public async Task A_short_wait_behind_a_long_one_ends_on_its_own_time()
    {
        var started = Stopwatch.GetTimestamp();
        var longWait = _latency.WaitAsync(TimeSpan.FromMinutes(10), CancellationToken.None);
        // Bounded well below the long wait: a timing thread that kept sleeping toward it would fail this.
        await _latency.WaitAsync(TimeSpan.FromMilliseconds(20), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(20));
        Assert.False(longWait.IsCompleted);
    }

    [Fact]
    public async Task A_cancelled_wait_ends_at_once_as_cancelled()
    {
        using var cancel = new CancellationTokenSource();
        var wait = _latency.WaitAsync(TimeSpan.FromMinutes(10), cancel.Token);
        Assert.False(wait.IsCompleted);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Disposing_ends_pending_waits_as_cancelled_and_refuses_new_ones()
    {
        var pending = _latency.WaitAsync(TimeSpan.FromMinutes(10), CancellationToken.None);

        _latency.Dispose();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(TimeSpan.FromSeconds(30)));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => _latency.WaitAsync(TimeSpan.FromMilliseconds(1), CancellationToken.None));
    }
}
