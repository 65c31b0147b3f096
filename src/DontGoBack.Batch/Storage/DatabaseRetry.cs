using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Npgsql;
using Polly;
using Polly.Retry;

namespace DontGoBack.Batch.Storage;

/// <summary>
/// The one retry pipeline for database work: a unit of work that failed on a transient fault
/// (connection refused or reset, server shutting down or starting up, too many connections,
/// deadlock, SQLite busy) is run again with exponential backoff and jitter, for at most a given
/// time, on the injected TimeProvider. Each unit must be safe to run twice: a read, one
/// statement, or one transaction written to be repeated (see the refresh store's chunk write).
/// </summary>
public sealed partial class DatabaseRetry
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LongestDelay = TimeSpan.FromSeconds(2);
    private static readonly ResiliencePropertyKey<Budget> BudgetKey = new("dontgoback.database-retry-budget");

    private readonly ResiliencePipeline _pipeline;
    private readonly IOptions<DatabaseOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<DatabaseRetry> _logger;
    private readonly DatabaseWriteRefusals? _refusals;

    /// <param name="refusals">Told when a unit of work meets a database that refuses writes, so readiness shows it.</param>
    public DatabaseRetry(IOptions<DatabaseOptions> options, TimeProvider time, ILogger<DatabaseRetry> logger, DatabaseWriteRefusals? refusals = null)
    {
        (_options, _time, _logger, _refusals) = (options, time, logger, refusals);
        // Built here rather than through Polly's DI registry: that one adds its own telemetry,
        // which logs every retry with a stack trace; ours logs one line per retry.
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                // Bounded by time rather than by count: an outage lasts as long as it lasts.
                MaxRetryAttempts = int.MaxValue,
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } e && DatabaseFaults.IsTransient(e) && Remaining(args.Context) > TimeSpan.Zero),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(Backoff(args.AttemptNumber, Remaining(args.Context))),
                OnRetry = args =>
                {
                    LogRetrying(args.Context.OperationKey ?? "database work", args.AttemptNumber + 1,
                        (long)args.RetryDelay.TotalMilliseconds, DatabaseFaults.Reason(args.Outcome.Exception!));
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    /// <summary>Runs the work, retrying transient faults for up to Database:RetryTimeout.</summary>
    /// <param name="operation">What the work is, for the retry log line.</param>
    public Task<T> ExecuteAsync<T>(string operation, Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        ExecuteAsync(operation, _options.Value.RetryTimeout, work, cancellationToken);

    /// <summary>Runs the work, retrying transient faults for up to <paramref name="retryFor"/>; then the last fault is thrown.</summary>
    public async Task<T> ExecuteAsync<T>(
        string operation, TimeSpan retryFor, Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(operation, cancellationToken);
        context.Properties.Set(BudgetKey, new Budget(_time.GetTimestamp(), retryFor));
        try
        {
            return await _pipeline.ExecuteAsync(static (context, work) => new ValueTask<T>(work(context.CancellationToken)), context, work);
        }
        catch (Exception e) when (_refusals is not null && DatabaseFaults.StorageRefusalOf(e) is { } refusal)
        {
            _refusals.Record(refusal, e);
            throw;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private TimeSpan Remaining(ResilienceContext context) =>
        context.Properties.TryGetValue(BudgetKey, out var budget) ? budget.RetryFor - _time.GetElapsedTime(budget.Started) : TimeSpan.Zero;

    /// <summary>50 ms doubling up to 2 s, each jittered down by up to half, never past the time left.</summary>
    private static TimeSpan Backoff(int attempt, TimeSpan remaining)
    {
        var full = Math.Min(LongestDelay.TotalMilliseconds, FirstDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 16)));
        var jittered = TimeSpan.FromMilliseconds(full * (0.5 + Random.Shared.NextDouble() / 2));
        return jittered < remaining ? jittered : remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
    }

    private sealed record Budget(long Started, TimeSpan RetryFor);

    [LoggerMessage(LogLevel.Warning, "Database unavailable during {Operation} (try {Attempt}), retrying in {DelayMs} ms: {Reason}")]
    private partial void LogRetrying(string operation, int attempt, long delayMs, string reason);
}

/// <summary>Which exceptions mean the database, rather than our code or its data, is at fault.</summary>
public static class DatabaseFaults
{
    /// <summary>A fault that may go away by itself: the same work run again later may succeed.</summary>
    public static bool IsTransient(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException { SqlState: PostgresErrorCodes.DiskFull }:
                    // Npgsql counts it (53xxx) as transient, but a full disk is not freed within a
                    // retry budget: retrying only holds the run and the caller (see StorageRefusalOf).
                    return false;
                case PostgresException postgres:
                    // Npgsql counts 08xxx, 53xxx, 57P03, 40001 and 40P01 as transient; a server
                    // shut down (fast or immediate) ends its sessions with 57P01/57P02.
                    return postgres.IsTransient || postgres.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown;
                case NpgsqlException npgsql:
                    // Connection refused or reset, timeouts: Npgsql decides from the socket error.
                    return npgsql.IsTransient;
                case SqliteException sqlite:
                    // SQLITE_BUSY / SQLITE_LOCKED: another writer held the file for longer than the busy timeout.
                    return sqlite.SqliteErrorCode is 5 or 6;
            }
        }
        return false;
    }

    /// <summary>Any fault raised by the database or its driver, transient or not.</summary>
    public static bool IsDatabaseFault(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is DbException)
                return true;
        }
        return false;
    }

    /// <summary>
    /// The database answers but refuses to write: it is read-only (PostgreSQL 25006: a read-only
    /// transaction, role or standby; SQLite SQLITE_READONLY) or its storage is full (PostgreSQL
    /// 53100; SQLite SQLITE_FULL). Reads still work; writes fail until an operator acts.
    /// </summary>
    public static StorageRefusal? StorageRefusalOf(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException { SqlState: PostgresErrorCodes.ReadOnlySqlTransaction }:
                case SqliteException { SqliteErrorCode: SqliteReadOnly }:
                    return StorageRefusal.ReadOnly;
                case PostgresException { SqlState: PostgresErrorCodes.DiskFull }:
                // A new session on a full disk: the server cannot write the relation cache file every
                // backend writes as it starts, and ends the session with an internal error (XX000).
                case PostgresException { SqlState: PostgresErrorCodes.InternalError, MessageText: "could not write init file" }:
                case SqliteException { SqliteErrorCode: SqliteFull }:
                    return StorageRefusal.Full;
                case DbException:
                    return null;
            }
        }
        return null;
    }

    private const int SqliteReadOnly = 8;
    private const int SqliteFull = 13;

    /// <summary>The text a run records and reports when the database stopped it.</summary>
    public static string Describe(Exception exception) => StorageRefusalOf(exception) switch
    {
        { } refusal => $"{refusal.Describe()}: {Reason(exception)}",
        null => $"{(IsTransient(exception) ? "database unavailable" : "database error")}: {Reason(exception)}",
    };

    /// <summary>The driver's own words (EF wraps them in a generic "likely due to a transient failure").</summary>
    public static string Reason(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is DbException)
                return e.Message;
        }
        return exception.Message;
    }
}

/// <summary>Why a database that answers refuses to write.</summary>
public enum StorageRefusal
{
    ReadOnly,
    Full,
}

public static class StorageRefusalText
{
    /// <summary>"database read-only" or "database storage full": how runs, commands and problems name it.</summary>
    public static string Describe(this StorageRefusal refusal) => refusal switch
    {
        StorageRefusal.ReadOnly => "database read-only",
        _ => "database storage full",
    };
}
