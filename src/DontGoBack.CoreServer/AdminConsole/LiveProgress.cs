using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.AdminConsole;

/// <summary>One reading of a run's current attempt for the console's progress bar and counts, formatted as the pages format it.</summary>
/// <param name="Running">False once the run ended: the page reloads once to show its outcome.</param>
/// <param name="Seen">Every user the attempt went through, skipped ones too.</param>
/// <param name="Processed">Of the <paramref name="Expected"/> users it had to process, those it did (written or failed): what the bar shows.</param>
/// <param name="Eta">When the rest should be through, in the batch zone and labelled (HH:mm:ss KST); null until there is a rate.</param>
/// <param name="At">When the counts were read, as <paramref name="Eta"/> is written: the live chart's axis, in the zone of every other time on the page.</param>
public sealed record LiveReading(
    int Attempt, string Status, bool Running, int Seen, int Processed, int Expected, double Percent, double UsersPerSecond, int Success, int Skipped,
    int Failed, string? Eta, string? At = null)
{
    public static LiveReading Of(BatchRun run, RunProgressView? progress, BatchCalendar calendar) => progress is null
        ? Ended(run, new RunProgressCounts(0, run.Total, run.Success, run.Skipped, run.Failed))
        : new LiveReading(run.Attempts, run.Status.ToText(), run.Status == BatchRunStatus.Running, progress.Seen, progress.Processed, progress.Expected,
            progress.Percent, progress.UsersPerSecond, progress.Success, progress.Skipped, progress.Failed,
            progress.Eta is { } eta ? ConsoleFormat.Time(eta, calendar.Zone) : null, ConsoleFormat.Time(progress.At, calendar.Zone));

    /// <summary>A run no longer running: its latest attempt's counts, all of its work processed.</summary>
    private static LiveReading Ended(BatchRun run, RunProgressCounts counts) => new(run.Attempts, run.Status.ToText(),
        run.Status == BatchRunStatus.Running, counts.Seen, counts.Processed, counts.Processed, 100, 0, counts.Success, counts.Skipped, counts.Failed, null);
}

/// <summary>
/// A run's progress as Server-Sent Events: read from the run history (what every node writes with
/// its lease renewal) once per Batch:ProgressInterval, sent when it changed, and a last event when
/// the run is no longer running. The page's script moves its bar with them; nothing polls pages.
/// </summary>
public sealed class LiveProgress(IServiceScopeFactory scopes, BatchCalendar calendar, IOptions<BatchOptions> batch, TimeProvider time,
    IHostApplicationLifetime lifetime)
{
    public const string EventType = "progress";

    /// <summary>How long a stream waits for an attempt the console started to claim the run.</summary>
    public static readonly TimeSpan ClaimWait = TimeSpan.FromSeconds(30);

    /// <param name="afterAttempt">Follow the attempt after this one (a run the console just started, which may not have claimed the day yet).</param>
    public async IAsyncEnumerable<SseItem<LiveReading>> FollowAsync(
        long runId, int? afterAttempt, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var since = time.GetTimestamp();
        // An open stream must not hold the server's shutdown up.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        var token = stopping.Token;
        LiveReading? last = null;
        while (!token.IsCancellationRequested)
        {
            var reading = await ReadAsync(runId, token);
            if (reading is null)
                yield break;
            var claimPending = afterAttempt is { } before && reading.Attempt <= before && !reading.Running;
            if (claimPending && time.GetElapsedTime(since) > ClaimWait)
                yield break;
            if (!claimPending && reading != last)
                yield return new SseItem<LiveReading>(reading, EventType);
            if (!claimPending && !reading.Running)
                yield break;
            last = reading;
            try
            {
                await Task.Delay(batch.Value.ProgressInterval, time, token);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }

    public async Task<bool> ExistsAsync(long runId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().FindAsync(runId, cancellationToken) is not null;
    }

    private async Task<LiveReading?> ReadAsync(long runId, CancellationToken cancellationToken)
    {
        // A scope per reading: a stream may stay open for hours, a context should not.
        await using var scope = scopes.CreateAsyncScope();
        var ledger = scope.ServiceProvider.GetRequiredService<BatchRunLedger>();
        try
        {
            if (await ledger.FindAsync(runId, cancellationToken) is not { } run)
                return null;
            var progress = await scope.ServiceProvider.GetRequiredService<RunProgressReader>().LiveAsync(run, cancellationToken);
            return LiveReading.Of(run, progress, calendar);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}
