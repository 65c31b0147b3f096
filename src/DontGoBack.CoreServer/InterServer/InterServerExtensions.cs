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
            .Validate(extension => extension.UserDeadline >= extension.AttemptTimeout,
                "Extension:UserDeadline must be at least Extension:AttemptTimeout, or no attempt could finish.")
            .Validate(extension => !extension.UsesInProcessStandIn || extension.Simulation.Clamp <= extension.MaxDailyMove,
                "Extension:Simulation:Clamp must not exceed Extension:MaxDailyMove, or the stand-in's answers would be refused.")
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
            var authClient = builder.Services.AddHttpClient(AccessTokenProvider.HttpClientName, http =>
                http.BaseAddress = new Uri(WithTrailingSlash(authSettings.BaseUrl ?? "http://auth-not-configured/")));
            authClient.AddResilienceHandler("auth", (pipeline, context) => AddExtensionResilience(pipeline, context, requestRate: null));
            authClient.AddHttpMessageHandler(() => new BoundedAnswerHandler(AccessTokenProvider.MaxTokenBytes));
        }
        // One limiter for the process. It sits between the retries and the attempt timeout: retries
        // count against the budget, and waiting for a permit does not count as a slow answer.
        RateLimiter? requestRate = extensionSettings.MaxRequestsPerSecond > 0 ? PerSecond(extensionSettings.MaxRequestsPerSecond) : null;
        extensionClient.AddResilienceHandler("extension", (pipeline, context) => AddExtensionResilience(pipeline, context, requestRate));
        // Inside the attempts: the body is read within the attempt timeout, and a cut-off one is retried.
        extensionClient.AddHttpMessageHandler(services =>
            new BoundedAnswerHandler(services.GetRequiredService<IOptions<ExtensionOptions>>().Value.MaxAnswerBytes));
        return builder;
    }

    /// <summary>
    /// The user's deadline around a circuit breaker around retries (exponential backoff with jitter,
    /// transient faults only, a server's Retry-After honoured up to a cap) around the attempt
    /// timeout, all from Extension:*. Leaner than the standard pipeline on purpose: per-call client
    /// cost is what limits per-user mode, and in-flight requests are already capped by the
    /// connection limit, so it has no concurrency limiter of its own.
    /// </summary>
    private static void AddExtensionResilience(
        ResiliencePipelineBuilder<HttpResponseMessage> pipeline, ResilienceHandlerContext context, RateLimiter? requestRate)
    {
        var options = context.ServiceProvider.GetRequiredService<IOptions<ExtensionOptions>>().Value;
        var retry = new HttpRetryStrategyOptions
        {
            MaxRetryAttempts = options.MaxRetryAttempts,
            Delay = options.RetryBaseDelay,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
        };
        // The default generator takes a Retry-After as it comes, even "3600"; the server may slow us
        // down, but only so far.
        var retryAfter = retry.DelayGenerator;
        var maxRetryAfter = options.MaxRetryAfter;
        if (retryAfter is not null)
        {
            retry.DelayGenerator = async args =>
                await retryAfter(args) is { } asked ? TimeSpan.FromTicks(Math.Min(asked.Ticks, maxRetryAfter.Ticks)) : null;
        }
        pipeline
            // Outermost, so it bounds the retries and their waits too, not only each attempt.
            .AddTimeout(options.UserDeadline)
            .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
            {
                FailureRatio = options.CircuitFailureRatio,
                MinimumThroughput = options.CircuitMinimumThroughput,
                SamplingDuration = options.CircuitSamplingDuration,
            })
            .AddRetry(retry);
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
