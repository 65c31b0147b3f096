using System.Globalization;
using System.Text;
using Npgsql;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// Carries evictions between processes on one PostgreSQL database — the replicas of a cluster,
/// and a CLI command (refresh, backfill) writing while a server runs — by NOTIFY on one channel:
/// each eviction is published after the local one, and every server listens and evicts the same
/// users from its own cache. A listener that lost its connection may have missed messages, so
/// on every (re)connect it retires its whole cache.
/// </summary>
public sealed partial class SeriesChangeFeed(
    NpgsqlDataSource dataSource, SeriesCacheGenerations generations, SeriesCache.LocalEviction eviction, TimeProvider time, ILogger<SeriesChangeFeed> logger)
    : BackgroundService
{
    public const string Channel = "asset_series_changed";

    // NOTIFY takes at most 8,000 bytes; this leaves room for the sender's id.
    private const int MaxPayloadChars = 7_000;

    private readonly string _sender = Guid.NewGuid().ToString("N");

    public async Task PublishAsync(IReadOnlyCollection<long> userIds, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            foreach (var payload in Payloads(userIds))
            {
                await using var command = new NpgsqlCommand("SELECT pg_notify(@channel, @payload)", connection);
                command.Parameters.AddWithValue("channel", Channel);
                command.Parameters.AddWithValue("payload", payload);
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            // The write itself is done; other processes keep their copies until SeriesCache:Lifetime.
            LogPublishFailed(userIds.Count, e.Message);
        }
    }

    private IEnumerable<string> Payloads(IReadOnlyCollection<long> userIds)
    {
        var payload = new StringBuilder(_sender).Append(':');
        var empty = payload.Length;
        foreach (var userId in userIds)
        {
            if (payload.Length > MaxPayloadChars)
            {
                yield return payload.ToString(0, payload.Length - 1);
                payload.Length = empty;
            }
            payload.Append(userId.ToString(CultureInfo.InvariantCulture)).Append(',');
        }
        if (payload.Length > empty)
            yield return payload.ToString(0, payload.Length - 1);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, message) => Evict(message.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                // Whatever was published while no one listened is unknown: nothing cached before now is trusted.
                generations.AdvanceAll();
                backoff = TimeSpan.FromMilliseconds(100);
                while (true)
                    await connection.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or System.IO.IOException)
            {
                LogListenFailed(backoff.TotalMilliseconds, e.Message);
                generations.AdvanceAll();
                try
                {
                    await Task.Delay(backoff, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private void Evict(string payload)
    {
        var separator = payload.IndexOf(':', StringComparison.Ordinal);
        if (separator < 0 || payload.AsSpan(0, separator).SequenceEqual(_sender))
            return;
        var userIds = new List<long>();
        foreach (var part in payload[(separator + 1)..].Split(','))
        {
            if (long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var userId))
                userIds.Add(userId);
        }
        // Runs on the listening connection's read loop; the memory part is not awaited there.
        _ = eviction.EvictAsync(userIds);
    }

    // One line with the reason, as the database retries log theirs: a database outage is expected, not a bug with a stack.
    [LoggerMessage(LogLevel.Warning, "Could not tell other processes that {Count} users' graphs changed ({Reason}); their caches keep them until SeriesCache:Lifetime")]
    private partial void LogPublishFailed(int count, string reason);

    [LoggerMessage(LogLevel.Warning, "Listening for other processes' graph changes failed ({Reason}); retrying in {DelayMs} ms, the cache is retired meanwhile")]
    private partial void LogListenFailed(double delayMs, string reason);
}
