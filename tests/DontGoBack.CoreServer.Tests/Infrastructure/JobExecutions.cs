using Quartz;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>A Quartz job listener: a test waits until a job has run to its end so many times, instead of sleeping.</summary>
public sealed class JobExecutions(JobKey job) : IJobListener
{
    private readonly object _gate = new();
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
    private int _count;

    public string Name { get; } = $"test-{Guid.NewGuid():N}";

    public static async Task<JobExecutions> ListenAsync(IScheduler scheduler, JobKey job)
    {
        var listener = new JobExecutions(job);
        scheduler.ListenerManager.AddJobListener(listener);
        await Task.CompletedTask;
        return listener;
    }

    /// <summary>Completes once the job has finished <paramref name="count"/> executions since listening.</summary>
    public Task WaitForAsync(int count, TimeSpan timeout)
    {
        lock (_gate)
        {
            if (_count >= count)
                return Task.CompletedTask;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, done));
            return done.Task.WaitAsync(timeout);
        }
    }

    public ValueTask JobWasExecuted(IJobExecutionContext context, JobExecutionException? jobException, CancellationToken cancellationToken = default)
    {
        if (!context.JobDetail.Key.Equals(job))
            return ValueTask.CompletedTask;
        lock (_gate)
        {
            _count++;
            foreach (var waiter in _waiters.Where(w => w.Count <= _count).ToList())
            {
                waiter.Done.TrySetResult();
                _waiters.Remove(waiter);
            }
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask JobToBeExecuted(IJobExecutionContext context, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask JobExecutionVetoed(IJobExecutionContext context, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
}
