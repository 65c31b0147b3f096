using DontGoBack.CoreServer.InterServer.Auth;
using DontGoBack.CoreServer.InterServer.Extension;
using DontGoBack.MarketSimulation;
using Microsoft.Extensions.Http.Resilience;
using System.Threading.RateLimiting;
using Polly;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.InterServer;

public static class InterServerExtensions
{
    public static IHostApplicationBuilder AddInterServerClients(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AuthOptions>()
            .BindConfiguration(AuthOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<ExtensionOptions>()
            .BindConfiguration(ExtensionOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate<IOptions<AuthOptions>>(
                (extension, auth) => extension.UsesInProcessStandIn
                                     || (!string.IsNullOrWhiteSpace(auth.Value.BaseUrl) && !string.IsNullOrEmpty(auth.Value.ClientSecret)),
                "Extension:BaseUrl is set, so Auth:BaseUrl and Auth:ClientSecret are required for its bearer token.")
            .ValidateOnStart();

        // Registration depends on whether a real server is configured; read it now.
        var extensionSettings = builder.Configuration.GetSection(ExtensionOptions.SectionName).Get<ExtensionOptions>() ?? new();
        var authSettings = builder.Configuration.GetSection(AuthOptions.SectionName).Get<AuthOptions>() ?? new();

        builder.Services.AddSingleton<ExtensionCapabilities>();
        var extensionClient = builder.Services.AddHttpClient<ExtensionClient>(http =>
        {
            http.BaseAddress = new Uri(extensionSettings.UsesInProcessStandIn ? "http://in-process-extension/" : WithTrailingSlash(extensionSettings.BaseUrl!));
            // The resilience pipeline owns timeouts.
            http.Timeout = Timeout.InfiniteTimeSpan;
        });
        // Per-request log scopes and lines cost more than the call itself at this rate; failures
        // are logged by the refresh with the user and reason, retries by the resilience pipeline.
        extensionClient.RemoveAllLoggers();
        if (extensionSettings.UsesInProcessStandIn)
        {
            builder.Services.AddSingleton(services =>
            {
                var simulation = services.GetRequiredService<IOptions<ExtensionOptions>>().Value.Simulation;
                return new SimulatedExtension(new MarketMoveRule(simulation.Salt, simulation.Sigma, simulation.Clamp), simulation.MaxBulkItems);
            });
            extensionClient.ConfigurePrimaryHttpMessageHandler(services =>
                new InProcessExtensionHandler(services.GetRequiredService<SimulatedExtension>()));
        }
        else
        {
            extensionClient.ConfigurePrimaryHttpMessageHandler(services => new SocketsHttpHandler
            {
                MaxConnectionsPerServer = services.GetRequiredService<IOptions<ExtensionOptions>>().Value.MaxInFlight,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            });
            builder.Services.AddSingleton<AccessTokenProvider>();
            builder.Services.AddTransient<BearerTokenHandler>();
            // Outermost, ahead of the resilience handler: fetching a token is not subject to an
            // update call's attempt timeout, and a refused token stops the run instead of being retried.
            extensionClient.AddHttpMessageHandler<BearerTokenHandler>();
            builder.Services.AddHttpClient(AccessTokenProvider.HttpClientName, http =>
                    http.BaseAddress = new Uri(WithTrailingSlash(authSettings.BaseUrl ?? "http://auth-not-configured/")))
                .AddResilienceHandler("auth", (pipeline, context) => AddExtensionResilience(pipeline, context, requestRate: null));
        }
        // One limiter for the process. It sits between the retries and the attempt timeout: retries
        // count against the budget, and waiting for a permit does not count as a slow answer.
        RateLimiter? requestRate = extensionSettings.MaxRequestsPerSecond > 0 ? PerSecond(extensionSettings.MaxRequestsPerSecond) : null;
        extensionClient.AddResilienceHandler("extension", (pipeline, context) => AddExtensionResilience(pipeline, context, requestRate));
        return builder;
    }

    /// <summary>
    /// Attempt timeout inside retries (exponential backoff with jitter, transient faults only)
    /// inside a circuit breaker, all from Extension:*. Leaner than the standard pipeline on
    /// purpose: its extra rate limiter and total timeout cost about a third of the client's CPU
    /// per call in bench/, and in-flight requests are already capped by the connection limit.
    /// </summary>
    private static void AddExtensionResilience(
        ResiliencePipelineBuilder<HttpResponseMessage> pipeline, ResilienceHandlerContext context, RateLimiter? requestRate)
    {
        var options = context.ServiceProvider.GetRequiredService<IOptions<ExtensionOptions>>().Value;
        pipeline
            .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
            {
                FailureRatio = options.CircuitFailureRatio,
                MinimumThroughput = options.CircuitMinimumThroughput,
                SamplingDuration = options.CircuitSamplingDuration,
            })
            .AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxRetryAttempts,
                Delay = options.RetryBaseDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            });
        if (requestRate is not null)
            pipeline.AddRateLimiter(requestRate);
        pipeline.AddTimeout(options.AttemptTimeout);
    }

    /// <summary>A token bucket refilled every 100 ms, so a second's budget is spread over the second rather than spent at its start; requests wait their turn.</summary>
    private static RateLimiter PerSecond(int requestsPerSecond) => new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
    {
        TokenLimit = Math.Max(1, requestsPerSecond / 10),
        TokensPerPeriod = Math.Max(1, requestsPerSecond / 10),
        ReplenishmentPeriod = TimeSpan.FromMilliseconds(100),
        QueueLimit = int.MaxValue,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        AutoReplenishment = true,
    });

    private static string WithTrailingSlash(string url) => url.EndsWith('/') ? url : url + "/";
}
