using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// Whether this process's change listener was heard from (an answer to its probe, or a message) within
/// SeriesCache:StalenessBound: only then may its cache answer. Apart from the feed, which writes it, so the
/// cache's policy can read it without depending on the feed (whose eviction depends on the cache).
/// </summary>
public sealed class SeriesListenerLiveness(IOptions<SeriesCacheOptions> options, TimeProvider time)
{
    /// <summary>When the listener was last known to listen (a timestamp of <see cref="TimeProvider"/>); 0: not now.</summary>
    private long _confirmedAt;

    public bool IsConfirmedLive
    {
        get
        {
            var confirmedAt = Volatile.Read(ref _confirmedAt);
            return confirmedAt != 0 && time.GetElapsedTime(confirmedAt) <= options.Value.StalenessBound;
        }
    }

    /// <returns>True when it was not confirmed live until now: messages may have been missed meanwhile.</returns>
    public bool Confirm()
    {
        var lapsed = !IsConfirmedLive;
        Volatile.Write(ref _confirmedAt, time.GetTimestamp());
        return lapsed;
    }

    public void Lose() => Volatile.Write(ref _confirmedAt, 0);
}

/// <summary>
/// Carries evictions between processes on one PostgreSQL database — the replicas of a cluster,
/// and a CLI command (refresh, backfill) writing while a server runs — by NOTIFY on one channel:
/// each eviction is published after the local one, and every server listens and evicts the same
/// users from its own cache. A listener that lost its connection may have missed messages, so
/// on every (re)connect it retires its whole cache. A listener can also die without a word (its
/// backend stopped or hung, the network silent): its session is asked every third of
/// SeriesCache:StalenessBound whether it still listens, and the cache is trusted only while an
/// answer or a message came within the bound (<see cref="SeriesListenerLiveness"/>); confirmed again after
/// a lapse, the listener retires the whole cache, as it may have missed messages meanwhile.
/// </summary>
public sealed partial class SeriesChangeFeed(
    NpgsqlDataSource dataSource, SeriesCacheGenerations generations, SeriesCache.LocalEviction eviction, SeriesListenerLiveness liveness,
    IOptions<SeriesCacheOptions> options, TimeProvider time, ILogger<SeriesChangeFeed> logger)
    : BackgroundService
{
    public const string Channel = "asset_series_changed";

    /// <summary>The listening session's name in <c>pg_stat_activity</c>.</summary>
    public const string ApplicationName = "dontgoback-series-listener";

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
                connection.Notification += (_, message) =>
                {
                    Confirm();
                    Evict(message.Payload);
                };
                // The name is reset when a connection goes back to the pool; this one never does, as it is only ever closed broken or at shutdown.
                await using (var listen = new NpgsqlCommand($"SET application_name = '{ApplicationName}'; LISTEN {Channel}", connection))
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                // Whatever was published while no one listened is unknown: nothing cached before now is trusted.
                generations.AdvanceAll();
                Confirm();
                backoff = TimeSpan.FromMilliseconds(100);
                while (true)
                {
                    if (!await connection.WaitAsync(options.Value.StalenessBound / 3, stoppingToken))
                        await ProbeAsync(connection, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or System.IO.IOException or OperationCanceledException)
            {
                // The connection is disposed on the way here, broken if a probe was cut off: the next one is a new session.
                liveness.Lose();
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

    /// <summary>
    /// Asks the listening session whether it still listens, within SeriesCache:StalenessBound. No answer in time
    /// (a backend stopped or hung answers nothing, and no error comes either) ends the connection: Npgsql breaks it
    /// when the cancellation it sends is not answered.
    /// </summary>
    private async Task ProbeAsync(NpgsqlConnection connection, CancellationToken stoppingToken)
    {
        using var bounded = new CancellationTokenSource(options.Value.StalenessBound, time);
        using var stopping = stoppingToken.Register(bounded.Cancel);
        await using var probe = new NpgsqlCommand("SELECT count(*) FROM pg_listening_channels() AS listening WHERE listening = @channel", connection);
        probe.Parameters.AddWithValue("channel", Channel);
        if ((long)(await probe.ExecuteScalarAsync(bounded.Token))! != 1)
            throw new NpgsqlException($"the session no longer listens on {Channel}");
        Confirm();
    }

    /// <summary>Marks the listener live; after a lapse the whole cache is retired first, as messages may have been missed in it.</summary>
    private void Confirm()
    {
        if (liveness.Confirm())
            generations.AdvanceAll();
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
