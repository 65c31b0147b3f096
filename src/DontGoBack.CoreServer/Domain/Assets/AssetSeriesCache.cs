using System.ComponentModel.DataAnnotations;
using System.Globalization;
using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// Told by every writer of a user's snapshots (a refresh chunk, an adjustment) which users it
/// changed, right after its transaction committed, so no cached series outlives the change.
/// </summary>
public interface ISeriesCacheInvalidator
{
    /// <summary>
    /// Call after the commit, and also when the commit's fate is unknown (a connection lost while
    /// committing): evicting a series that did not change costs one database read, keeping one that did is a stale graph.
    /// </summary>
    Task EvictAsync(IReadOnlyCollection<long> userIds, CancellationToken cancellationToken);
}

public sealed class SeriesCacheOptions : IValidatableObject
{
    public const string SectionName = "SeriesCache";

    /// <summary>Off: every request reads the database (the ETag and 304 still work).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Longest a cached series is kept. Eviction, not this, keeps answers fresh; the lifetime bounds
    /// memory, and bounds the staleness a write by another process that cannot reach this one's
    /// cache would leave (see the README's caching rules).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Memory the cached answers may take (their bodies and keys); the least recently used go first beyond it.</summary>
    [Range(1, 1_048_576)]
    public int SizeLimitMegabytes { get; set; } = 256;

    /// <summary>
    /// PostgreSQL: the longest a graph cached here may stay stale after another process changed it, when this
    /// process's change listener died without a word (its backend stopped or hung, the network silent). The
    /// listener's session is asked every third of it whether it still listens; while no answer or message came
    /// within it, requests read the database, and once the listener is confirmed again the whole cache is retired.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00", ErrorMessage = "SeriesCache:StalenessBound must be between 00:00:00.500 and 00:10:00.")]
    public TimeSpan StalenessBound { get; set; } = TimeSpan.FromSeconds(5);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (StalenessBound > Lifetime)
        {
            yield return new ValidationResult(
                $"SeriesCache:StalenessBound ({StalenessBound}) must not exceed SeriesCache:Lifetime ({Lifetime}): the lifetime alone bounds staleness then.",
                [nameof(StalenessBound)]);
        }
    }
}

/// <summary>
/// A per-user counter that is part of every cached series' key. An eviction advances it before
/// it removes the user's entries, so an answer read from the database before a write and stored
/// after its eviction lands under the old generation, which no later request looks up — tag
/// eviction alone would let that answer in. Users share 65,536 counters by id: advancing one
/// also retires the entries of the users that share it, which costs a read, never a stale answer.
/// One more counter retires every entry at once (<see cref="AdvanceAll"/>).
/// </summary>
public sealed class SeriesCacheGenerations
{
    private const int Stripes = 1 << 16;
    private readonly long[] _generations = new long[Stripes];
    private long _all;

    /// <summary>The part of the cache key that changes whenever the user's entries are retired.</summary>
    public string KeyOf(long userId) => string.Create(CultureInfo.InvariantCulture,
        $"{Volatile.Read(ref _all)}.{Volatile.Read(ref _generations[StripeOf(userId)])}");

    public void Advance(long userId) => Interlocked.Increment(ref _generations[StripeOf(userId)]);

    public void AdvanceAll() => Interlocked.Increment(ref _all);

    private static int StripeOf(long userId) => (int)((ulong)userId % Stripes);
}

public static class SeriesCache
{
    public const string PolicyName = "asset-series";

    public static string TagOf(long userId) => string.Create(CultureInfo.InvariantCulture, $"asset-series:{userId}");

    public static IHostApplicationBuilder AddSeriesCache(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SeriesCacheOptions>()
            .BindConfiguration(SeriesCacheOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<SeriesCacheGenerations>();
        builder.Services.AddSingleton<SeriesOutputCachePolicy>();
        builder.Services.AddSingleton<LocalEviction>();
        if (DatabaseOptions.ProviderIn(builder.Configuration) == DatabaseProvider.Postgres)
        {
            builder.Services.AddSingleton<SeriesListenerLiveness>();
            builder.Services.AddSingleton<SeriesChangeFeed>();
            builder.Services.AddHostedService(services => services.GetRequiredService<SeriesChangeFeed>());
        }
        builder.Services.AddSingleton<ISeriesCacheInvalidator>(services =>
            new Invalidator(services.GetRequiredService<LocalEviction>(), services.GetService<SeriesChangeFeed>()));
        builder.Services.AddOutputCache();
        builder.Services.AddOptions<OutputCacheOptions>()
            .Configure<SeriesOutputCachePolicy, IOptions<SeriesCacheOptions>>((output, policy, settings) =>
            {
                output.AddPolicy(PolicyName, policy);
                output.SizeLimit = settings.Value.SizeLimitMegabytes * 1024L * 1024L;
            });
        return builder;
    }

    /// <summary>Caches a series answer (200 only) per user, query and day, tagged with the user; on PostgreSQL only while the change listener is confirmed live.</summary>
    internal sealed class SeriesOutputCachePolicy(
        SeriesCacheGenerations generations, IOptions<SeriesCacheOptions> options, BatchCalendar calendar, SeriesListenerLiveness? listener = null)
        : IOutputCachePolicy
    {
        private static readonly StringValues QueryKeys = new(["from", "to", "interval"]);

        public ValueTask CacheRequestAsync(OutputCacheContext context, CancellationToken cancellationToken)
        {
            var http = context.HttpContext;
            // Other processes' changes reach this cache only through a live listener: without one, the database answers.
            if (!options.Value.Enabled || listener is { IsConfirmedLive: false } || !HttpMethods.IsGet(http.Request.Method)
                || !long.TryParse(http.Request.RouteValues["userId"] as string, NumberStyles.None, CultureInfo.InvariantCulture, out var userId))
            {
                return ValueTask.CompletedTask;
            }

            context.EnableOutputCaching = true;
            context.AllowCacheLookup = true;
            context.AllowCacheStorage = true;
            // Concurrent misses of one key wait for a single database read.
            context.AllowLocking = true;
            context.CacheVaryByRules.RouteValueNames = "userId";
            context.CacheVaryByRules.QueryKeys = QueryKeys;
            // Without from or to the range ends today, so the key holds the day in the batch zone.
            context.CacheVaryByRules.VaryByValues["day"] = calendar.Today.ToString("O");
            context.CacheVaryByRules.VaryByValues["generation"] = generations.KeyOf(userId);
            context.Tags.Add(TagOf(userId));
            context.ResponseExpirationTimeSpan = options.Value.Lifetime;
            return ValueTask.CompletedTask;
        }

        public ValueTask ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask ServeResponseAsync(OutputCacheContext context, CancellationToken cancellationToken)
        {
            // Problems (400, 404, 429, 5xx) and 304s are answered afresh each time.
            if (context.HttpContext.Response.StatusCode != StatusCodes.Status200OK)
                context.AllowCacheStorage = false;
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Evicts users' graphs from this process's cache only.</summary>
    public sealed class LocalEviction(SeriesCacheGenerations generations, IOutputCacheStore store)
    {
        public async Task EvictAsync(IReadOnlyCollection<long> userIds)
        {
            // The generations first: from here on no request finds an older answer of these users.
            foreach (var userId in userIds)
                generations.Advance(userId);
            // Then the memory; not cancelled halfway, as the entries would only wait for their lifetime.
            foreach (var userId in userIds)
                await store.EvictByTagAsync(TagOf(userId), CancellationToken.None);
        }
    }

    /// <summary>This process's cache at once, then (PostgreSQL) every other process's through the feed.</summary>
    private sealed class Invalidator(LocalEviction local, SeriesChangeFeed? feed) : ISeriesCacheInvalidator
    {
        public async Task EvictAsync(IReadOnlyCollection<long> userIds, CancellationToken cancellationToken)
        {
            if (userIds.Count == 0)
                return;
            await local.EvictAsync(userIds);
            if (feed is not null)
                await feed.PublishAsync(userIds, cancellationToken);
        }
    }
}
