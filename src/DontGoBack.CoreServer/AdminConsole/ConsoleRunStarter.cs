using DontGoBack.CoreServer.Batch.Common;

namespace DontGoBack.CoreServer.AdminConsole;

/// <summary>
/// Starts a day of a job from the console without holding the browser's request for the whole run:
/// the run page follows it live instead. The engine records the run and stops it on shutdown.
/// </summary>
public sealed partial class ConsoleRunStarter(IServiceScopeFactory scopes, ILogger<ConsoleRunStarter> logger)
{
    /// <summary>Starts the run of <paramref name="day"/> in the background; false when no such job is registered.</summary>
    public bool TryStart(string job, DateOnly day)
    {
        using (var probe = scopes.CreateScope())
        {
            if (!probe.ServiceProvider.GetServices<IBatchJobRunner>().Any(r => r.Definition.Name == job))
                return false;
        }
        _ = Task.Run(() => RunAsync(job, day));
        return true;
    }

    private async Task RunAsync(string job, DateOnly day)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var runner = scope.ServiceProvider.GetServices<IBatchJobRunner>().Single(r => r.Definition.Name == job);
            // Not a request's token: closing the browser must not abort the day. Shutdown still stops it (the engine watches it).
            var result = await runner.TryRunAsync(day, CancellationToken.None);
            if (result is null)
                LogAlreadyRunning(job, day);
        }
        catch (OperationCanceledException)
        {
            // Shutdown stopped it; the engine recorded it aborted.
        }
        catch (Exception e)
        {
            LogFailed(e, job, day);
        }
    }

    [LoggerMessage(LogLevel.Information, "Console: {Job} {Day} was already running elsewhere; nothing started")]
    private partial void LogAlreadyRunning(string job, DateOnly day);

    [LoggerMessage(LogLevel.Error, "Console: the run of {Job} {Day} it started ended in an error")]
    private partial void LogFailed(Exception exception, string job, DateOnly day);
}
