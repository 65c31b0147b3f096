using System.Threading.RateLimiting;

namespace DontGoBack.CoreServer.InterServer;

/// <summary>Holds requests back so the server behind never sees more than the configured requests per second.</summary>
public sealed class RequestRateLimitHandler(RateLimiter limiter) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var lease = await limiter.AcquireAsync(1, cancellationToken);
        if (!lease.IsAcquired)
            throw new InvalidOperationException("request rate limiter refused a permit although it queues without limit");
        return await base.SendAsync(request, cancellationToken);
    }

    /// <summary>A token bucket refilled every 100 ms, so a second's budget is spread over the second rather than spent at its start.</summary>
    public static RateLimiter PerSecond(int requestsPerSecond) => new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
    {
        TokenLimit = Math.Max(1, requestsPerSecond / 10),
        TokensPerPeriod = Math.Max(1, requestsPerSecond / 10),
        ReplenishmentPeriod = TimeSpan.FromMilliseconds(100),
        QueueLimit = int.MaxValue,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        AutoReplenishment = true,
    });
}
