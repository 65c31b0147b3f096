using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Telemetry;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.Batch.Alerts;

/// <summary>
/// Posts alert messages to Alerts:WebhookUrl from their table: a node takes one due message under a
/// short lease, posts it, and marks it sent, or schedules the next try with a doubling wait, giving up
/// after Alerts:MaxAttempts. Any live node delivers, so a message outlives the node that made it; a
/// receiver that answered but whose "sent" was lost may see it twice, so the body names job, day,
/// condition and kind, and the Idempotency-Key header the message.
/// </summary>
public sealed partial class AlertWebhookSender(
    IServiceScopeFactory scopes, IHttpClientFactory clients, AlertSignal signal, BatchMetrics metrics, IOptions<AlertOptions> options,
    IHostApplicationLifetime lifetime, TimeProvider time, ILogger<AlertWebhookSender> logger) : BackgroundService
{
    public const string ClientName = "alert-webhook";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.Webhook is null)
            return;
        // Not before start-up has finished: the database must be migrated.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            var written = signal.Next;
            try
            {
                while (await DeliverNextAsync(stoppingToken))
                {
                }
            }
            catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
            {
                // The messages wait in their table; the next round tries again.
                LogDatabaseDown(DatabaseFaults.Describe(e));
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                // Never lets the host stop over an alert: the message stays due and the next round tries again.
                LogRoundFailed(e);
            }
            await Task.WhenAny(Task.Delay(options.Value.PollInterval, time, stoppingToken), written);
        }
    }

    /// <summary>Takes one due message and makes one call for it.</summary>
    /// <returns>False when no message was due.</returns>
    public async Task<bool> DeliverNextAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BatchEngineDbContext>();
        var now = time.GetUtcNow();
        // Long enough for the call and the write after it; a node that dies holding it leaves the message to another after that.
        var leaseUntil = now + settings.Timeout + TimeSpan.FromSeconds(30);
        var pending = nameof(AlertDelivery.Pending);
        // The outer conditions are checked again on the row the update locks, so two nodes never take the same message.
        var taken = await db.Database.SqlQuery<TakenAlert>($"""
            UPDATE batch_alerts SET lease_until = {leaseUntil}, attempts = attempts + 1
             WHERE id = (SELECT id FROM batch_alerts
                          WHERE delivery = {pending} AND next_attempt_at <= {now} AND (lease_until IS NULL OR lease_until < {now})
                          ORDER BY id LIMIT 1)
               AND delivery = {pending} AND (lease_until IS NULL OR lease_until < {now})
            RETURNING id, payload, attempts, job_name
            """).ToListAsync(cancellationToken);
        if (taken is not [var alert])
            return false;

        var error = await PostAsync(settings.Webhook!, alert, settings.Timeout, cancellationToken);
        var after = time.GetUtcNow();
        var row = db.DeadlineAlerts.Where(a => a.Id == alert.Id);
        if (error is null)
        {
            await row.ExecuteUpdateAsync(set => set
                .SetProperty(a => a.Delivery, AlertDelivery.Sent).SetProperty(a => a.SentAt, after)
                .SetProperty(a => a.LeaseUntil, (DateTimeOffset?)null).SetProperty(a => a.LastError, (string?)null), CancellationToken.None);
            metrics.AlertDelivered(alert.JobName, "sent");
            LogSent(alert.Id, alert.Attempts);
            return true;
        }
        var stored = StoredText.Clean(error, BatchRunLedger.MaxTextLength);
        if (alert.Attempts >= settings.MaxAttempts)
        {
            await row.ExecuteUpdateAsync(set => set
                .SetProperty(a => a.Delivery, AlertDelivery.GaveUp).SetProperty(a => a.LeaseUntil, (DateTimeOffset?)null)
                .SetProperty(a => a.LastError, stored), CancellationToken.None);
            metrics.AlertDelivered(alert.JobName, "gave_up");
            LogGaveUp(alert.Id, alert.Attempts, error, alert.Payload);
            return true;
        }
        var next = after + settings.RetryDelayAfter(alert.Attempts);
        await row.ExecuteUpdateAsync(set => set
            .SetProperty(a => a.NextAttemptAt, next).SetProperty(a => a.LeaseUntil, (DateTimeOffset?)null)
            .SetProperty(a => a.LastError, stored), CancellationToken.None);
        metrics.AlertDelivered(alert.JobName, "retry");
        LogRetry(alert.Id, alert.Attempts, error, next);
        return true;
    }

    /// <returns>Null when the receiver took it (2xx); otherwise why not.</returns>
    private async Task<string?> PostAsync(Uri webhook, TakenAlert alert, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, webhook)
            {
                Content = new StringContent(alert.Payload, Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
            };
            request.Headers.Add("Idempotency-Key", $"dontgoback-alert-{alert.Id}");
            // The answer's body is never read: a receiver cannot make us hold a huge or endless one.
            using var response = await clients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            return response.IsSuccessStatusCode ? null : $"the webhook answered {(int)response.StatusCode} {response.ReasonPhrase}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"the webhook did not answer within Alerts:Timeout ({timeout.TotalSeconds:0.###} s)";
        }
        catch (HttpRequestException e)
        {
            return $"the webhook could not be reached: {e.Message}";
        }
    }

    private sealed record TakenAlert(long Id, string Payload, int Attempts, string JobName);

    [LoggerMessage(LogLevel.Information, "Alert {Id} posted to the webhook (call {Attempt})")]
    private partial void LogSent(long id, int attempt);

    [LoggerMessage(LogLevel.Warning, "Alert {Id} not delivered (call {Attempt}): {Reason}; next call at {Next:O}")]
    private partial void LogRetry(long id, int attempt, string reason, DateTimeOffset next);

    [LoggerMessage(LogLevel.Error, "Alert {Id} given up after {Attempts} calls: {Reason}. It was: {Payload}")]
    private partial void LogGaveUp(long id, int attempts, string reason, string payload);

    [LoggerMessage(LogLevel.Error, "Alert delivery failed; trying again at the next round")]
    private partial void LogRoundFailed(Exception exception);

    [LoggerMessage(LogLevel.Warning, "Alert delivery could not read its messages: {Reason}")]
    private partial void LogDatabaseDown(string reason);
}
