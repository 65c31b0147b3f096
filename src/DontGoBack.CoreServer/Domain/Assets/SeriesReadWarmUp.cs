using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// PostgreSQL: before the server takes requests (user hosted services start before it, and after
/// the database is migrated), the public read pool opens its connections and runs the series
/// statements on them. Otherwise the first profile reads of a fresh process wait for those
/// connections, for their PostgreSQL backends loading the catalogue, for the statements'
/// preparation and for the JIT of the read path: in a fresh process the slowest 1% of cache
/// misses took 80–100 ms against 40 ms a few seconds later (see the README's read path).
/// </summary>
internal sealed partial class SeriesReadWarmUp(
    AssetSeriesReader reader, IOptions<DatabaseOptions> database, BatchCalendar calendar, TimeProvider time, ILogger<SeriesReadWarmUp> logger) : IHostedService
{
    /// <summary>How long the server's start may wait for it; a database that slow makes its own problems visible elsewhere.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    /// <summary>Rounds of concurrent reads: the pool opens a connection while the others are busy, so each round reaches more of them.</summary>
    private const int Rounds = 3;

    /// <summary>No user has id 0 (ids start at 1): the statements run through and find no profile, and nothing is cached.</summary>
    private const long NoUser = 0;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        try
        {
            // Bounded from outside: a multiplexed read sends PostgreSQL no cancellation, so a token
            // alone would not end one the database never answers.
            await ReadRoundsAsync().WaitAsync(Limit, time, cancellationToken);
            LogWarmedUp((long)time.GetElapsedTime(started).TotalMilliseconds, database.Value.PublicReadPoolSize);
        }
        // Not a reason to refuse to start: the reads open their connections on demand, only slower at first.
        catch (TimeoutException)
        {
            LogWarmUpFailed($"not done within {Limit.TotalSeconds:0} s");
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            LogWarmUpFailed(DatabaseFaults.Describe(e));
        }
    }

    private async Task ReadRoundsAsync()
    {
        // The range a profile asks for by default.
        var last = calendar.Today;
        var first = last.AddDays(-AssetEndpoints.DefaultSeriesDays + 1);
        for (var round = 0; round < Rounds; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, database.Value.PublicReadPoolSize)
                .SelectMany(_ => new[] { SeriesInterval.Day, SeriesInterval.Week, SeriesInterval.Month })
                .Select(interval => reader.ReadAsync(NoUser, first, last, interval, CancellationToken.None)));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(LogLevel.Information, "Profile reads warmed up in {ElapsedMs} ms (read pool of {PoolSize} connections)")]
    private partial void LogWarmedUp(long elapsedMs, int poolSize);

    [LoggerMessage(LogLevel.Warning, "Profile reads not warmed up ({Reason}); their first requests open connections on demand")]
    private partial void LogWarmUpFailed(string reason);
}
