using DontGoBack.CoreServer.Batch.Asset.Job;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Batch.Asset.Scheduler;

/// <summary>
/// Once the server has started, runs the days the schedule missed while it was down (or that a
/// crashed process left unfinished), so they do not wait for the next fire.
/// </summary>
public sealed partial class StartupCatchUp(
    IServiceScopeFactory scopes, IOptions<AssetRefreshOptions> options, IHostApplicationLifetime lifetime,
    ILogger<StartupCatchUp> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
            return;
        // Not before start-up has finished: migrations must be applied and the server listening.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var results = await scope.ServiceProvider.GetRequiredService<AssetRefreshJob>().RunDueDaysAsync(null, stoppingToken);
            if (results.Count > 0)
                LogCaughtUp(results.Count);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The next trigger tries again; a failed catch-up must not take the server down.
            LogCatchUpFailed(e);
        }
    }

    [LoggerMessage(LogLevel.Information, "Caught up {Count} asset refresh days at start-up")]
    private partial void LogCaughtUp(int count);

    [LoggerMessage(LogLevel.Error, "Asset refresh catch-up at start-up failed")]
    private partial void LogCatchUpFailed(Exception exception);
}
