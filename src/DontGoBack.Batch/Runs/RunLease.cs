using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Runs;

/// <summary>
/// Keeps a claimed run's lease alive while its work goes on, and its progress persisted: renews it
/// every Batch:ProgressInterval (at most Batch:LeaseTimeout/4) on a <see cref="PeriodicTimer"/> of
/// the injected clock, writing the work's progress with the heartbeat. A lease lost to another attempt cancels
/// the work (the newer attempt goes on; unique keys keep the overlap harmless), and so does an
/// operator's cancel of the run, seen at the same renewal wherever the run works; a renewal that
/// fails on the database is tried again at the next tick.
/// </summary>
public sealed partial class RunLease(BatchRunLedger ledger, IOptions<BatchOptions> options, TimeProvider time, ILogger<RunLease> logger)
{
    /// <summary>Starts renewing; dispose the result to stop. Renewals overlap the work, on contexts of the ledger's own.</summary>
    /// <param name="partitionNo">The partition <paramref name="progress"/> is of, in a cluster; null for a whole run.</param>
    public Renewal Hold(RunClaim claim, CancellationTokenSource work, RunProgress progress, int? partitionNo = null) =>
        new(this, claim, work, progress, partitionNo);

    private async Task RenewAsync(
        Renewal renewal, RunClaim claim, CancellationTokenSource work, RunProgress progress, int? partitionNo, CancellationToken stop)
    {
        var every = options.Value.LeaseTimeout / 4 is var quarter && quarter < options.Value.ProgressInterval ? quarter : options.Value.ProgressInterval;
        using var timer = new PeriodicTimer(every, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    var state = await ledger.RenewAsync(claim, partitionNo, progress.Snapshot(), stop);
                    if (state == LeaseState.Held)
                        continue;
                    if (state == LeaseState.CancelRequested)
                    {
                        renewal.CancelReason = await ledger.CancelReasonAsync(claim, stop) ?? "";
                        LogCancelRequested(claim.RunId, renewal.CancelReason);
                    }
                    else
                    {
                        LogLeaseLost(claim.RunId);
                    }
                    await work.CancelAsync();
                    return;
                }
                catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
                {
                    // One line per failed renewal while the database is away; the stack trace only at Debug.
                    LogRenewalFailed(claim.RunId, DatabaseFaults.IsDatabaseFault(e) ? DatabaseFaults.Describe(e) : e.Message);
                    LogRenewalFailure(e);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    public sealed class Renewal : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _renewing;

        internal Renewal(RunLease lease, RunClaim claim, CancellationTokenSource work, RunProgress progress, int? partitionNo) =>
            _renewing = lease.RenewAsync(this, claim, work, progress, partitionNo, _stop.Token);

        /// <summary>Set when the work was stopped because an operator cancelled the run: the reason given.</summary>
        public string? CancelReason { get; internal set; }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _renewing;
            _stop.Dispose();
        }
    }

    [LoggerMessage(LogLevel.Warning, "Run {RunId} was cancelled by an operator ({Reason}); stopping")]
    private partial void LogCancelRequested(long runId, string reason);

    [LoggerMessage(LogLevel.Error, "Run {RunId} lost its lease to another attempt")]
    private partial void LogLeaseLost(long runId);

    [LoggerMessage(LogLevel.Warning, "Renewing the lease of run {RunId} failed, trying again at the next renewal: {Reason}")]
    private partial void LogRenewalFailed(long runId, string reason);

    [LoggerMessage(LogLevel.Debug, "Lease renewal failure")]
    private partial void LogRenewalFailure(Exception exception);
}
