using DontGoBack.CoreServer.InterServer.Extension;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
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
/// thousands of calls, so the lines are capped and summarised per run: a call made for a run carries
/// the run's <see cref="RunRetries"/> on its request (<see cref="RunRetries.Option"/>), opened by the
/// work that calls for the run (<see cref="OpenRun"/>). Only the run's first Extension:RetryLogLimit
/// retries get a line each; every Batch:ProgressInterval in which it retried ends with one summary line
/// naming the run, that counts its retries by class (HTTP status or exception), with a sample reason,
/// and says how many had no line of their own; the run's end adds its totals. Calls made for no run
/// (a token fetch, shared by the runs that wait for it) are capped and summarised apart, per process,
/// their cap starting again after an interval without retries. Polly's own lines carry the whole
/// exception with its stack trace at Warning, once for the attempt and again for the retry; they are
/// moved to Debug (category "Polly"), where the details stay available.
/// </summary>
public sealed partial class ResilienceEventLog : TelemetryListener, IDisposable
{
    private readonly ILogger<ResilienceEventLog> _logger;
    private readonly int _limit;
    private readonly TimeSpan _interval;
    private readonly ITimer _summaries;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Tally> _runs = new(StringComparer.Ordinal);
    private readonly Tally _outsideRuns = new();

    public ResilienceEventLog(ILogger<ResilienceEventLog> logger, IOptions<ExtensionOptions> extension, IOptions<BatchOptions> batch, TimeProvider time)
    {
        _logger = logger;
        _limit = extension.Value.RetryLogLimit;
        _interval = batch.Value.ProgressInterval;
        _summaries = time.CreateTimer(_ => Summarize(), null, _interval, _interval);
    }

    public void Dispose() => _summaries.Dispose();

    /// <summary>
    /// The retries of the calls made for <paramref name="run"/> from now until disposed, counted, capped and
    /// summarised apart from other runs'. Work of one run that opens it several times (partitions of one
    /// attempt in this process) shares one cap; the last to dispose it logs what is left and the run's totals.
    /// </summary>
    /// <param name="run">How lines name the run, e.g. "asset-refresh run 42 attempt 1".</param>
    public RunRetries OpenRun(string run)
    {
        lock (_gate)
        {
            if (!_runs.TryGetValue(run, out var tally))
                _runs[run] = tally = new Tally();
            tally.Open++;
        }
        return new RunRetries(this, run);
    }

    internal void CloseRun(string run)
    {
        Tally tally;
        lock (_gate)
        {
            tally = _runs[run];
            if (--tally.Open > 0)
                return;
            _runs.Remove(run);
        }
        // Removed, so no retry counts into it any more and no timer takes its interval.
        if (tally.TakeInterval() is { } last)
            LogRunRetrySummary(run, last.Retries, _interval.TotalSeconds, last.Classes, last.Sample, last.NotLogged, _limit);
        if (tally.Totals() is { } totals)
            LogRunRetryTotals(run, totals.Retries, totals.Classes, totals.NotLogged, _limit);
    }

    /// <summary>Events this listener reports itself, or that add nothing to its line.</summary>
    private static readonly HashSet<string> ToDebug = ["ExecutionAttempt", "OnRetry", "OnTimeout", "OnCircuitOpened"];

    public static ResilienceEventSeverity Severity(SeverityProviderArguments args) =>
        ToDebug.Contains(args.Event.EventName) ? ResilienceEventSeverity.Debug : args.Event.Severity;

    public override void Write<TResult, TArgs>(in TelemetryEventArguments<TResult, TArgs> args)
    {
        switch (args.Arguments)
        {
            case OnRetryArguments<TResult> retry:
                var request = args.Context.GetRequestMessage();
                var reason = Describe(retry.Outcome);
                var run = request is not null && request.Options.TryGetValue(RunRetries.Option, out var retries) ? retries.Run : null;
                if (!Count(run, Classify(retry.Outcome), reason))
                    break;
                if (run is null)
                    LogRetry(Target(request), reason, retry.AttemptNumber + 1, (long)retry.RetryDelay.TotalMilliseconds);
                else
                    LogRunRetry(run, Target(request), reason, retry.AttemptNumber + 1, (long)retry.RetryDelay.TotalMilliseconds);
                break;
            case OnCircuitOpenedArguments<TResult> opened:
                LogCircuitOpened(Target(args.Context.GetRequestMessage()), Describe(opened.Outcome), (long)opened.BreakDuration.TotalMilliseconds);
                break;
        }
    }

    /// <summary>Counts a retry for its run's (or the calls outside runs') summaries; true while it may still have a line of its own.</summary>
    private bool Count(string? run, string failureClass, string reason)
    {
        lock (_gate)
        {
            // A run already closed (a call outliving its work) counts with the calls outside runs.
            var tally = run is not null && _runs.TryGetValue(run, out var open) ? open : _outsideRuns;
            return tally.Count(failureClass, reason, _limit);
        }
    }

    /// <summary>
    /// Every interval: one line per run that retried since the last, and one for the calls outside runs;
    /// an interval without any lets the calls outside runs have lines again (a run's cap holds to its end).
    /// </summary>
    private void Summarize()
    {
        var summaries = new List<(string? Run, Tally.Interval Interval)>();
        lock (_gate)
        {
            foreach (var (run, tally) in _runs)
            {
                if (tally.TakeInterval() is { } interval)
                    summaries.Add((run, interval));
            }
            if (_outsideRuns.TakeInterval() is { } outside)
                summaries.Add((null, outside));
            else
                _outsideRuns.RestartCap();
        }
        foreach (var (run, interval) in summaries)
        {
            if (run is null)
                LogRetrySummary(interval.Retries, _interval.TotalSeconds, interval.Classes, interval.Sample, interval.NotLogged, _limit);
            else
                LogRunRetrySummary(run, interval.Retries, _interval.TotalSeconds, interval.Classes, interval.Sample, interval.NotLogged, _limit);
        }
    }

    /// <summary>Retries of one run (or of the calls outside runs): this interval's, and all of them. Guarded by the log's lock.</summary>
    private sealed class Tally
    {
        private readonly Dictionary<string, int> _byClass = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _allByClass = new(StringComparer.Ordinal);
        private string? _sample;
        private int _logged;
        private int _notLogged;
        private int _allNotLogged;

        /// <summary>How many works of the run hold it open.</summary>
        public int Open;

        public sealed record Interval(int Retries, string Classes, string Sample, int NotLogged);

        public bool Count(string failureClass, string reason, int limit)
        {
            _byClass[failureClass] = _byClass.GetValueOrDefault(failureClass) + 1;
            _allByClass[failureClass] = _allByClass.GetValueOrDefault(failureClass) + 1;
            _sample ??= reason;
            if (_logged < limit)
            {
                _logged++;
                return true;
            }
            _notLogged++;
            _allNotLogged++;
            return false;
        }

        /// <summary>The retries since the last call, if any, and a fresh interval.</summary>
        public Interval? TakeInterval()
        {
            if (_byClass.Count == 0)
                return null;
            var interval = new Interval(_byClass.Values.Sum(), Describe(_byClass), _sample!, _notLogged);
            _byClass.Clear();
            _sample = null;
            _notLogged = 0;
            return interval;
        }

        public void RestartCap() => _logged = 0;

        /// <summary>Every retry counted, if any, by class.</summary>
        public Interval? Totals() =>
            _allByClass.Count == 0 ? null : new Interval(_allByClass.Values.Sum(), Describe(_allByClass), "", _allNotLogged);

        private static string Describe(Dictionary<string, int> byClass) =>
            string.Join(", ", byClass.OrderByDescending(c => c.Value).Select(c => $"{c.Key}: {c.Value}"));
    }

    /// <summary>The HTTP status, or the exception's kind without its "Exception" (the log stays free of that word, as of stack traces).</summary>
    private static string Classify<TResult>(Outcome<TResult> outcome) =>
        outcome.Exception?.GetType().Name.Replace("Exception", "", StringComparison.Ordinal)
        ?? (outcome.Result is HttpResponseMessage response ? $"HTTP {(int)response.StatusCode}" : "other");

    private static string Target(HttpRequestMessage? request) =>
        request is not null ? $"{request.Method} {request.RequestUri}" : "call";

    private static string Describe<TResult>(Outcome<TResult> outcome) =>
        outcome.Exception?.Message
        ?? (outcome.Result is HttpResponseMessage response ? $"HTTP {(int)response.StatusCode}" : outcome.Result?.ToString() ?? "no answer");

    [LoggerMessage(LogLevel.Warning, "{Target} failed ({Reason}); retry {Retry} in {DelayMs} ms")]
    private partial void LogRetry(string target, string reason, int retry, long delayMs);

    [LoggerMessage(LogLevel.Warning,
        "{Retries} retries of calls to other servers in the last {IntervalSeconds} s ({Classes}), e.g. {SampleReason}; {NotLogged} of them not logged one by one (Extension:RetryLogLimit {Limit})")]
    private partial void LogRetrySummary(int retries, double intervalSeconds, string classes, string sampleReason, int notLogged, int limit);

    [LoggerMessage(LogLevel.Warning, "{Run}: {Target} failed ({Reason}); retry {Retry} in {DelayMs} ms")]
    private partial void LogRunRetry(string run, string target, string reason, int retry, long delayMs);

    [LoggerMessage(LogLevel.Warning,
        "{Run}: {Retries} retries of calls to other servers in the last {IntervalSeconds} s ({Classes}), e.g. {SampleReason}; {NotLogged} of them not logged one by one (Extension:RetryLogLimit {Limit} per run)")]
    private partial void LogRunRetrySummary(string run, int retries, double intervalSeconds, string classes, string sampleReason, int notLogged, int limit);

    [LoggerMessage(LogLevel.Warning,
        "{Run}: {Retries} retries of calls to other servers in all ({Classes}); {NotLogged} of them not logged one by one (Extension:RetryLogLimit {Limit} per run)")]
    private partial void LogRunRetryTotals(string run, int retries, string classes, int notLogged, int limit);

    [LoggerMessage(LogLevel.Warning, "{Target} failed ({Reason}); circuit open for {BreakMs} ms, calls to that server fail at once meanwhile")]
    private partial void LogCircuitOpened(string target, string reason, long breakMs);
}

/// <summary>
/// The retries of one run's calls to other servers, from <see cref="ResilienceEventLog.OpenRun"/>: set on
/// each request made for the run (<see cref="Option"/>), so the retry log counts and caps them per run;
/// disposed when the run's calls are over.
/// </summary>
public sealed class RunRetries : IDisposable
{
    public static readonly HttpRequestOptionsKey<RunRetries> Option = new("DontGoBack.RunRetries");

    private readonly ResilienceEventLog _log;
    private int _closed;

    internal RunRetries(ResilienceEventLog log, string run) => (_log, Run) = (log, run);

    /// <summary>How lines name the run.</summary>
    public string Run { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
            _log.CloseRun(Run);
    }
}
