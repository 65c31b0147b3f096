using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Common;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Asset.Scheduler;

/// <summary>
/// Fires on the configured cron and only triggers the job: the day comes from the scheduled
/// fire time in the batch zone (the job adds any missed days and skips days that went through),
/// and nothing the job throws may stop the scheduler.
/// </summary>
[DisallowConcurrentExecution]
public sealed partial class DailyAssetRefreshScheduler(
    AssetRefreshJob job, IOptions<AssetRefreshOptions> options, ILogger<DailyAssetRefreshScheduler> logger) : IJob
{
    public static readonly JobKey JobKey = new("daily-asset-refresh", "asset");
    public static readonly TriggerKey TriggerKey = new("daily-asset-refresh-cron", "asset");

    /// <summary>Set on a fire that chains the next owed day after one finished; it is not a day's own fire.</summary>
    public const string ChainedKey = "chained";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
            return;
        DateOnly? firedDay = context.MergedJobDataMap.ContainsKey(ChainedKey)
            ? null
            : BatchDay.At(context.ScheduledFireTimeUtc ?? context.FireTimeUtc, settings.ResolveZone());
        var day = firedDay ?? BatchDay.At(context.FireTimeUtc, settings.ResolveZone());
        try
        {
            await job.RunDueDaysAsync(firedDay, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            LogCancelled(day.ToString("O"));
        }
        catch (Exception e)
        {
            // Logged here, not rethrown: the next day's fire must still happen.
            LogRunCrashed(e, day.ToString("O"));
        }
    }

    [LoggerMessage(LogLevel.Warning, "Scheduled asset refresh for {Day} was cancelled by shutdown")]
    private partial void LogCancelled(string day);

    [LoggerMessage(LogLevel.Error, "Scheduled asset refresh for {Day} crashed")]
    private partial void LogRunCrashed(Exception exception, string day);
}
