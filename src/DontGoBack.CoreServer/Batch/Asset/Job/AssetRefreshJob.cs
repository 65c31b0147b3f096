using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Batch.Common;

namespace DontGoBack.CoreServer.Batch.Asset.Job;

/// <summary>Runs the asset refresh for one day: refuses a day already running, times it, reports the result.</summary>
public sealed partial class AssetRefreshJob(
    RefreshAssetsUseCase refreshAssets, DayRunGate gate, TimeProvider time, ILogger<AssetRefreshJob> logger)
{
    public const string Name = "asset-refresh";

    /// <param name="users">Only these users (a back-fill's selection); every active user when null.</param>
    /// <returns>The result, or null when this process is already running that day.</returns>
    public async Task<BatchResult?> TryRunAsync(DateOnly day, CancellationToken cancellationToken, UserIdRange? users = null)
    {
        using var lease = gate.TryEnter(Name, day);
        if (lease is null)
        {
            LogAlreadyRunning(day.ToString("O"));
            return null;
        }

        LogStarting(day.ToString("O"));
        var started = time.GetTimestamp();
        var outcome = await refreshAssets.RunAsync(day, users, cancellationToken);
        var status = outcome.StoppedBecause is not null ? BatchRunStatus.Failed
            : outcome.Failed > 0 ? BatchRunStatus.CompletedWithFailures
            : BatchRunStatus.Completed;
        var result = new BatchResult(day, status, outcome.Total, outcome.Success, outcome.Skipped, outcome.Failed,
            (long)time.GetElapsedTime(started).TotalMilliseconds, outcome.StoppedBecause);
        LogFinished(day.ToString("O"), result.Status, result.Total, result.Success, result.Skipped, result.Failed, result.ElapsedMs);
        return result;
    }

    [LoggerMessage(LogLevel.Warning, "Asset refresh for {Day} is already running in this process; not starting another")]
    private partial void LogAlreadyRunning(string day);

    [LoggerMessage(LogLevel.Information, "Asset refresh for {Day} starting")]
    private partial void LogStarting(string day);

    [LoggerMessage(LogLevel.Information,
        "Asset refresh for {Day} {Status}: total {Total}, success {Success}, skipped {Skipped}, failed {Failed} in {ElapsedMs} ms")]
    private partial void LogFinished(string day, BatchRunStatus status, int total, int success, int skipped, int failed, long elapsedMs);
}
