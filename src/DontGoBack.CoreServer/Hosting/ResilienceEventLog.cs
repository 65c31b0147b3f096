using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Telemetry;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// One concise line per retry (and per opened circuit) of a call to the extension or auth server:
/// what was called, what went wrong, when the next attempt comes. Polly's own lines carry the
/// whole exception with its stack trace at Warning, once for the attempt and again for the retry;
/// they are moved to Debug (category "Polly"), where the details stay available.
/// </summary>
public sealed partial class ResilienceEventLog(ILogger<ResilienceEventLog> logger) : TelemetryListener
{
    /// <summary>Events this listener reports itself, or that add nothing to its line.</summary>
    private static readonly HashSet<string> ToDebug = ["ExecutionAttempt", "OnRetry", "OnTimeout", "OnCircuitOpened"];

    public static ResilienceEventSeverity Severity(SeverityProviderArguments args) =>
        ToDebug.Contains(args.Event.EventName) ? ResilienceEventSeverity.Debug : args.Event.Severity;

    public override void Write<TResult, TArgs>(in TelemetryEventArguments<TResult, TArgs> args)
    {
        switch (args.Arguments)
        {
            case OnRetryArguments<TResult> retry:
                LogRetry(Target(args.Context), Describe(retry.Outcome), retry.AttemptNumber + 1, (long)retry.RetryDelay.TotalMilliseconds);
                break;
            case OnCircuitOpenedArguments<TResult> opened:
                LogCircuitOpened(Target(args.Context), Describe(opened.Outcome), (long)opened.BreakDuration.TotalMilliseconds);
                break;
        }
    }

    private static string Target(ResilienceContext context) =>
        context.GetRequestMessage() is { } request ? $"{request.Method} {request.RequestUri}" : "call";

    private static string Describe<TResult>(Outcome<TResult> outcome) =>
        outcome.Exception?.Message
        ?? (outcome.Result is HttpResponseMessage response ? $"HTTP {(int)response.StatusCode}" : outcome.Result?.ToString() ?? "no answer");

    [LoggerMessage(LogLevel.Warning, "{Target} failed ({Reason}); retry {Retry} in {DelayMs} ms")]
    private partial void LogRetry(string target, string reason, int retry, long delayMs);

    [LoggerMessage(LogLevel.Warning, "{Target} failed ({Reason}); circuit open for {BreakMs} ms, calls to that server fail at once meanwhile")]
    private partial void LogCircuitOpened(string target, string reason, long breakMs);
}
