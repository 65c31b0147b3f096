using System.Threading.Channels;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.InterServer.Extension;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Telemetry;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Batch.Asset.UseCase;

/// <summary>
/// Refreshes every ACTIVE user's asset for one day. Three stages overlap, joined by bounded
/// channels so memory stays flat whatever the user count: keyset pages of candidates, grouped
/// for the bulk endpoint when it is configured → extension calls with bounded concurrency
/// (outside any transaction) → chunked writes, one transaction per chunk. A user's failure is recorded and the run goes on; an extension that
/// can serve nobody stops the run, and what was already answered is still written.
/// </summary>
public sealed partial class RefreshAssetsUseCase(
    AssetRefreshStore store,
    RolledUpMonths rolledUpMonths,
    ExtensionClient extension,
    ISeriesCacheInvalidator seriesCache,
    IOptions<AssetRefreshOptions> options,
    IOptions<ExtensionOptions> extensionOptions,
    BatchMetrics metrics,
    ResilienceEventLog retryLog,
    TimeProvider time,
    ILogger<RefreshAssetsUseCase> logger)
{
    private const int MaxReasonLength = 500;

    /// <param name="range">The users of the run or partition (<see cref="IdRange.All"/> for every active user).</param>
    /// <param name="progress">Told of each user once, as it finishes: the run's one count of them (the outcome's counts are read off it).</param>
    public async Task<BatchOutcome> RunAsync(DateOnly day, IdRange range, RunProgress progress, CancellationToken cancellationToken)
    {
        // The last line of defence: the engine asks the job (AssetRefreshJob.WhyNotRunnableAsync) before it records a run, but a
        // month may be rolled up between that question and this work. Refused for everyone before any call, the run recording why.
        if (await rolledUpMonths.WhyNotWritableAsync(day, cancellationToken) is { } refused)
        {
            LogDayRefused(day.ToString("O"), refused);
            return BatchOutcome.Nothing with { StoppedBecause = refused };
        }
        var settings = options.Value;
        var tally = new Tally(progress);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var groupSize = Math.Max(1, extensionOptions.Value.BulkSize);
        var groups = Channel.CreateBounded<AssetUpdateRequest[]>(
            new BoundedChannelOptions(Math.Max(2, settings.PageSize / groupSize)) { SingleWriter = true });
        var results = Channel.CreateBounded<(AssetUpdateRequest Request, UpdateAssetOutcome Outcome)>(
            new BoundedChannelOptions(settings.WriteChunkSize * 2) { SingleReader = true });
        ExtensionUnavailableException? stoppedBy = null;
        // The run's calls carry it, so their retries are logged, capped and summarised as this run's.
        using var retries = progress.Run is { } run ? retryLog.OpenRun(run) : null;

        var reading = ReadCandidatesAsync(day, range, groupSize, groups.Writer, tally, stop);
        var callsInFlight = groupSize > 1 ? extensionOptions.Value.BulkCallsInFlight : settings.MaxConcurrency;
        var calling = CallExtensionAsync(day, groups.Reader, callsInFlight, tally.Progress, retries, results.Writer, stop, e => stoppedBy = e);
        // Writes use the caller's token, not `stop`: answers already in hand are kept when the run stops early.
        var writing = WriteResultsAsync(day, results.Reader, tally, stop, cancellationToken);
        try
        {
            await Task.WhenAll(reading, calling, writing);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            // The store's retries could not carry it: the run stops as failed, keeping what it wrote;
            // a re-run continues with the users still without the day's snapshot.
            var why = DatabaseFaults.Describe(e);
            LogDatabaseStopped(day.ToString("O"), why);
            return OutcomeOf(tally, why);
        }

        if (stoppedBy is not null)
            LogRunStopped(day.ToString("O"), stoppedBy.FailureClass.ToString(), stoppedBy.Message);
        return OutcomeOf(tally, stoppedBy?.Message);
    }

    /// <summary>The outcome as the run's progress counted it: each user once, the not-due and the re-bases as they were reported.</summary>
    private static BatchOutcome OutcomeOf(Tally tally, string? stoppedBecause)
    {
        var counted = tally.Progress.Snapshot();
        // Always both counters, zero or not, as a finished run has always shown them.
        return new BatchOutcome(tally.Total, counted.Success, counted.Skipped, counted.Failed, stoppedBecause, counted.NotDue,
            BatchCounters.Of(counted.Counters.As<AssetRefreshCounters>()));
    }

    private async Task ReadCandidatesAsync(
        DateOnly day, IdRange range, int groupSize, ChannelWriter<AssetUpdateRequest[]> groups, Tally tally, CancellationTokenSource stop)
    {
        try
        {
            var (pageSize, startAmount) = (options.Value.PageSize, options.Value.StartAmount);
            var group = new List<AssetUpdateRequest>(groupSize);
            // From an id on, not after one: range.First - 1 does not exist below long.MinValue.
            var fromUserId = range.First;
            while (true)
            {
                IReadOnlyList<RefreshCandidate> page;
                using (BatchMetrics.PageRead(pageSize))
                    page = await store.ReadActivePageAsync(day, fromUserId, range.Last, pageSize, stop.Token);
                foreach (var candidate in page)
                {
                    Interlocked.Increment(ref tally.Total);
                    if (candidate.OpensLater)
                    {
                        tally.Progress.NotDue(1);
                        continue;
                    }
                    if (candidate.AlreadyRefreshed)
                    {
                        tally.Progress.Done(skipped: 1);
                        continue;
                    }
                    group.Add(new AssetUpdateRequest(candidate.UserId, candidate.PreviousAmount ?? startAmount));
                    if (group.Count == groupSize)
                    {
                        await groups.WriteAsync(group.ToArray(), stop.Token);
                        group.Clear();
                    }
                }
                if (page.Count < pageSize || page[^1].UserId >= range.Last)
                    break;
                fromUserId = page[^1].UserId + 1;
            }
            if (group.Count > 0)
                await groups.WriteAsync(group.ToArray(), stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch
        {
            await stop.CancelAsync();
            throw;
        }
        finally
        {
            groups.TryComplete();
        }
    }

    private async Task CallExtensionAsync(
        DateOnly day, ChannelReader<AssetUpdateRequest[]> groups, int callsInFlight, RunProgress progress, RunRetries? retries,
        ChannelWriter<(AssetUpdateRequest, UpdateAssetOutcome)> results, CancellationTokenSource stop,
        Action<ExtensionUnavailableException> onUnavailable)
    {
        try
        {
            await Parallel.ForEachAsync(
                groups.ReadAllAsync(stop.Token),
                new ParallelOptions { MaxDegreeOfParallelism = callsInFlight, CancellationToken = stop.Token },
                async (group, token) =>
                {
                    IReadOnlyList<UpdateAssetOutcome> outcomes;
                    using (metrics.ExtensionCall(progress))
                        outcomes = await extension.UpdateAssetsAsync(group, day, retries, token);
                    for (var i = 0; i < group.Length; i++)
                        await results.WriteAsync((group[i], outcomes[i]), token);
                });
        }
        catch (ExtensionUnavailableException e)
        {
            onUnavailable(e);
            await stop.CancelAsync();
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch
        {
            // Anything else stops the reader too, which would otherwise wait on a full channel for good.
            await stop.CancelAsync();
            throw;
        }
        finally
        {
            results.TryComplete();
        }
    }

    private async Task WriteResultsAsync(
        DateOnly day, ChannelReader<(AssetUpdateRequest Request, UpdateAssetOutcome Outcome)> results, Tally tally,
        CancellationTokenSource stop, CancellationToken cancellationToken)
    {
        var (chunkSize, maxWriteDelay) = (options.Value.WriteChunkSize, options.Value.MaxWriteDelay);
        var oldestUnwritten = 0L;
        var refreshed = new List<RefreshedAsset>(chunkSize);
        var failures = new List<RefreshFailure>();
        // Full chunks go to up to WritesInFlight concurrent transactions; this loop fills the next meanwhile.
        using var writeSlots = new SemaphoreSlim(store.TakesConcurrentWrites ? options.Value.WritesInFlight : 1);
        var writes = new List<Task>();
        try
        {
            while (await WaitForResultsAsync())
            {
                while (results.TryRead(out var item))
                {
                    var (request, outcome) = item;
                    switch (outcome)
                    {
                        case AssetUpdated updated:
                            refreshed.Add(new RefreshedAsset(request.UserId, request.BaseAmount, updated.Multiplier));
                            break;
                        case AssetUpdateFailed failed:
                            // The reason may carry another server's words: bounded and storable before it goes anywhere.
                            var reason = StoredText.Clean(failed.Reason, MaxReasonLength);
                            LogUserFailed(request.UserId, day.ToString("O"), failed.Class.ToString(), reason);
                            failures.Add(new RefreshFailure(request.UserId, failed.Class, reason));
                            break;
                    }
                    if (refreshed.Count + failures.Count == 1)
                        oldestUnwritten = time.GetTimestamp();
                    if (refreshed.Count + failures.Count >= chunkSize || time.GetElapsedTime(oldestUnwritten) >= maxWriteDelay)
                        await FlushAsync();
                }
            }
            await FlushAsync();
            await Task.WhenAll(writes);
        }
        catch
        {
            // A database that cannot take writes stops the callers too, instead of letting them fill the channel;
            // the chunks still being written end (or fail) before the run reports, so its counts are whole.
            await stop.CancelAsync();
            try
            {
                await Task.WhenAll(writes);
            }
            catch
            {
                // The first fault is the one rethrown below; the others share its cause (the database).
            }
            throw;
        }

        // No answer waits unwritten longer than MaxWriteDelay, so a process that dies loses little
        // of what it was told; a fast stream fills whole chunks well before that.
        async Task<bool> WaitForResultsAsync()
        {
            var waiting = results.WaitToReadAsync(cancellationToken).AsTask();
            if (refreshed.Count + failures.Count == 0 || waiting.IsCompleted)
                return await waiting;
            using var stopDelay = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var due = maxWriteDelay - time.GetElapsedTime(oldestUnwritten);
            if (due <= TimeSpan.Zero || await Task.WhenAny(waiting, Task.Delay(due, time, stopDelay.Token)) != waiting)
                await FlushAsync();
            await stopDelay.CancelAsync();
            return await waiting;
        }

        async Task FlushAsync()
        {
            if (refreshed.Count + failures.Count == 0)
                return;
            var (chunk, chunkFailures) = (refreshed, failures);
            (refreshed, failures) = (new List<RefreshedAsset>(chunkSize), new List<RefreshFailure>());
            await writeSlots.WaitAsync(cancellationToken);
            writes.Add(WriteAndReleaseAsync(chunk, chunkFailures));
            // A write that failed stops the run here, at the next chunk, rather than at the end.
            foreach (var finished in writes.Where(w => w.IsCompleted).ToList())
            {
                writes.Remove(finished);
                await finished;
            }
        }

        async Task WriteAndReleaseAsync(List<RefreshedAsset> chunk, List<RefreshFailure> chunkFailures)
        {
            try
            {
                await WriteChunkAsync(day, chunk, chunkFailures, tally, cancellationToken);
            }
            catch
            {
                // At once, not at the next chunk: the callers stop taking answers that could not be written.
                await stop.CancelAsync();
                throw;
            }
            finally
            {
                writeSlots.Release();
            }
        }
    }

    /// <summary>One chunk in its own transaction, its users reported to the run's progress once it committed.</summary>
    private async Task WriteChunkAsync(
        DateOnly day, List<RefreshedAsset> refreshed, List<RefreshFailure> failures, Tally tally, CancellationToken cancellationToken)
    {
        // Off the filling loop at once: the transaction's work runs beside the next chunk's filling.
        await Task.Yield();
        ChunkWriteResult written;
        try
        {
            using (metrics.ChunkWrite(tally.Progress, refreshed.Count + failures.Count))
                written = await store.WriteChunkAsync(day, refreshed, failures, time.GetUtcNow(), cancellationToken);
        }
        finally
        {
            // The chunk's users (their later days re-based too) get fresh graphs; evicted even when the
            // write failed, since a commit lost in flight may still have landed.
            await seriesCache.EvictAsync(refreshed.ConvertAll(r => r.UserId), CancellationToken.None);
        }
        // Counted before the users are reported done: whoever sees them written sees their re-bases too.
        if (written.RebasedUsers > 0 || written.RebasedDays > 0)
            tally.Progress.Count(BatchCounters.Of(new AssetRefreshCounters(written.RebasedUsers, written.RebasedDays)));
        tally.Progress.Done(written.Written, written.AlreadyPresent);
        // Its failures by class, plus the moves the store failed as not fitting (permanent): written.Failed in all.
        foreach (var failed in failures.GroupBy(f => f.Class))
            tally.Progress.Failed(failed.Key, failed.Count());
        tally.Progress.Failed(FailureClass.Permanent, written.Failed - failures.Count);
    }

    [LoggerMessage(LogLevel.Warning, "Asset refresh of user {UserId} for {Day} failed ({FailureClass}): {Reason}")]
    private partial void LogUserFailed(long userId, string day, string failureClass, string reason);

    [LoggerMessage(LogLevel.Error, "Asset refresh for {Day} stopped early ({FailureClass}): {Reason}")]
    private partial void LogRunStopped(string day, string failureClass, string reason);

    [LoggerMessage(LogLevel.Warning, "Asset refresh for {Day} refused: {Reason}")]
    private partial void LogDayRefused(string day, string reason);

    [LoggerMessage(LogLevel.Error, "Asset refresh for {Day} stopped early: {Reason}")]
    private partial void LogDatabaseStopped(string day, string reason);

    /// <summary>
    /// The run's progress, where each user's result is reported once (with the not-yet-open accounts and the re-bases, as
    /// they happen), and the users the run took up (finished or not: a run stopped mid-way had some in hand).
    /// </summary>
    private sealed class Tally(RunProgress progress)
    {
        public RunProgress Progress => progress;
        public int Total;
    }
}
