using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.InterServer.Extension;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Telemetry;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// Concise lines for retries (and opened circuits) of calls to the extension or auth server: what was
/// called, what went wrong, when the next attempt comes. A run against a failing server retries
/// thousands of calls, so only the first Extension:RetryLogLimit retries get a line each; every
/// Batch:ProgressInterval in which retries happened ends with one summary line that counts them all
/// by class (HTTP status or exception), with a sample reason, and says how many had no line of their
/// own. The limit is per process, not per run (a retry does not know its run): it starts again after
/// an interval without retries. Polly's own lines carry the whole exception with its stack trace at
/// Warning, once for the attempt and again for the retry; they are moved to Debug (category "Polly"),
/// where the details stay available.
/// </summary>
public sealed partial class ResilienceEventLog : TelemetryListener, IDisposable
{
    private readonly ILogger<ResilienceEventLog> _logger;
    private readonly int _limit;
    private readonly TimeSpan _interval;
    private readonly ITimer _summaries;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _byClass = new(StringComparer.Ordinal);
    private string? _sample;
    private int _logged;
    private int _notLogged;

    public ResilienceEventLog(ILogger<ResilienceEventLog> logger, IOptions<ExtensionOptions> extension, IOptions<BatchOptions> batch, TimeProvider time)
    {
        _logger = logger;
        _limit = extension.Value.RetryLogLimit;
        _interval = batch.Value.ProgressInterval;
        _summaries = time.CreateTimer(_ => Summarize(), null, _interval, _interval);
    }

    public void Dispose() => _summaries.Dispose();

    /// <summary>Events this listener reports itself, or that add nothing to its line.</summary>
    private static readonly HashSet<string> ToDebug = ["ExecutionAttempt", "OnRetry", "OnTimeout", "OnCircuitOpened"];

    public static ResilienceEventSeverity Severity(SeverityProviderArguments args) =>
        ToDebug.Contains(args.Event.EventName) ? ResilienceEventSeverity.Debug : args.Event.Severity;

    public override void Write<TResult, TArgs>(in TelemetryEventArguments<TResult, TArgs> args)
    {
        switch (args.Arguments)
        {
            case OnRetryArguments<TResult> retry:
                if (Count(Classify(retry.Outcome), Describe(retry.Outcome)))
                    LogRetry(Target(args.Context), Describe(retry.Outcome), retry.AttemptNumber + 1, (long)retry.RetryDelay.TotalMilliseconds);
                break;
            case OnCircuitOpenedArguments<TResult> opened:
                LogCircuitOpened(Target(args.Context), Describe(opened.Outcome), (long)opened.BreakDuration.TotalMilliseconds);
                break;
        }
    }

    /// <summary>Counts a retry for this interval's summary; true while it may still have a line of its own.</summary>
    private bool Count(string failureClass, string reason)
    {
        lock (_gate)
        {
            _byClass[failureClass] = _byClass.GetValueOrDefault(failureClass) + 1;
            _sample ??= reason;
            if (_logged < _limit)
            {
                _logged++;
                return true;
            }
            _notLogged++;
            return false;
        }
    }

    /// <summary>Every interval: one line for the retries since the last, if any; an interval without any lets the next ones have lines again.</summary>
    private void Summarize()
    {
        string classes, sample;
        int total, notLogged;
        lock (_gate)
        {
            if (_byClass.Count == 0)
            {
                _logged = 0;
                return;
            }
            total = _byClass.Values.Sum();
            classes = string.Join(", ", _byClass.OrderByDescending(c => c.Value).Select(c => $"{c.Key}: {c.Value}"));
            sample = _sample!;
            notLogged = _notLogged;
            _byClass.Clear();
            _sample = null;
            _notLogged = 0;
        }
        LogRetrySummary(total, _interval.TotalSeconds, classes, sample, notLogged, _limit);
    }

    /// <summary>The HTTP status, or the exception's kind without its "Exception" (the log stays free of that word, as of stack traces).</summary>
    private static string Classify<TResult>(Outcome<TResult> outcome) =>
        outcome.Exception?.GetType().Name.Replace("Exception", "", StringComparison.Ordinal)
        ?? (outcome.Result is HttpResponseMessage response ? $"HTTP {(int)response.StatusCode}" : "other");

    private static string Target(ResilienceContext context) =>
        context.GetRequestMessage() is { } request ? $"{request.Method} {request.RequestUri}" : "call";

    private static string Describe<TResult>(Outcome<TResult> outcome) =>
        outcome.Exception?.Message
        ?? (outcome.Result is HttpResponseMessage response ? $"HTTP {(int)response.StatusCode}" : outcome.Result?.ToString() ?? "no answer");

    [LoggerMessage(LogLevel.Warning, "{Target} failed ({Reason}); retry {Retry} in {DelayMs} ms")]
    private partial void LogRetry(string target, string reason, int retry, long delayMs);

    [LoggerMessage(LogLevel.Warning,
        "{Retries} retries of calls to other servers in the last {IntervalSeconds} s ({Classes}), e.g. {SampleReason}; {NotLogged} of them not logged one by one (Extension:RetryLogLimit {Limit})")]
    private partial void LogRetrySummary(int retries, double intervalSeconds, string classes, string sampleReason, int notLogged, int limit);

    [LoggerMessage(LogLevel.Warning, "{Target} failed ({Reason}); circuit open for {BreakMs} ms, calls to that server fail at once meanwhile")]
    private partial void LogCircuitOpened(string target, string reason, long breakMs);
}
