using DontGoBack.CoreServer.Persistence;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>
/// Keeps a claimed run's lease alive while its work goes on: renews it every Batch:LeaseTimeout/4
/// on a <see cref="PeriodicTimer"/> of the injected clock. A lease lost to another attempt cancels
/// the work (the newer attempt goes on; unique keys keep the overlap harmless); a renewal that
/// fails on the database is tried again at the next tick.
/// </summary>
public sealed partial class RunLease(BatchRunLedger ledger, IOptions<BatchOptions> options, TimeProvider time, ILogger<RunLease> logger)
{
    /// <summary>Starts renewing; dispose the result (before using the ledger again: they share a DbContext) to stop.</summary>
    public Renewal Hold(RunClaim claim, CancellationTokenSource work) => new(this, claim, work);

    private async Task RenewAsync(RunClaim claim, CancellationTokenSource work, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(options.Value.LeaseTimeout / 4, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    if (await ledger.RenewAsync(claim, stop))
                        continue;
                    LogLeaseLost(claim.RunId);
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

        internal Renewal(RunLease lease, RunClaim claim, CancellationTokenSource work) =>
            _renewing = lease.RenewAsync(claim, work, _stop.Token);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _renewing;
            _stop.Dispose();
        }
    }

    [LoggerMessage(LogLevel.Error, "Run {RunId} lost its lease to another attempt")]
    private partial void LogLeaseLost(long runId);

    [LoggerMessage(LogLevel.Warning, "Renewing the lease of run {RunId} failed, trying again at the next renewal: {Reason}")]
    private partial void LogRenewalFailed(long runId, string reason);

    [LoggerMessage(LogLevel.Debug, "Lease renewal failure")]
    private partial void LogRenewalFailure(Exception exception);
}
