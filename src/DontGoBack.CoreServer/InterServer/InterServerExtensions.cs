using DontGoBack.CoreServer.InterServer.Auth;
using DontGoBack.CoreServer.InterServer.Extension;
using DontGoBack.MarketSimulation;
using Microsoft.Extensions.Http.Resilience;
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
            .Validate(extension => extension.TotalTimeout >= extension.AttemptTimeout,
                "Extension:TotalTimeout must be at least Extension:AttemptTimeout.")
            .Validate(extension => extension.CircuitSamplingDuration >= 2 * extension.AttemptTimeout,
                "Extension:CircuitSamplingDuration must be at least twice Extension:AttemptTimeout.")
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
        if (extensionSettings.MaxRequestsPerSecond > 0)
        {
            // One limiter for the process, outermost so retries count against the budget too.
            var limiter = RequestRateLimitHandler.PerSecond(extensionSettings.MaxRequestsPerSecond);
            extensionClient.AddHttpMessageHandler(() => new RequestRateLimitHandler(limiter));
        }

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
                .AddStandardResilienceHandler().Configure(ApplyResilienceSettings);
        }
        extensionClient.AddStandardResilienceHandler().Configure(ApplyResilienceSettings);
        return builder;
    }

    /// <summary>Retries with exponential backoff and jitter, per-attempt and total timeouts, and the circuit breaker, from Extension:*.</summary>
    private static void ApplyResilienceSettings(HttpStandardResilienceOptions resilience, IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<ExtensionOptions>>().Value;
        resilience.Retry.MaxRetryAttempts = options.MaxRetryAttempts;
        resilience.Retry.Delay = options.RetryBaseDelay;
        resilience.Retry.BackoffType = Polly.DelayBackoffType.Exponential;
        resilience.Retry.UseJitter = true;
        resilience.AttemptTimeout.Timeout = options.AttemptTimeout;
        resilience.TotalRequestTimeout.Timeout = options.TotalTimeout;
        resilience.CircuitBreaker.FailureRatio = options.CircuitFailureRatio;
        resilience.CircuitBreaker.MinimumThroughput = options.CircuitMinimumThroughput;
        resilience.CircuitBreaker.SamplingDuration = options.CircuitSamplingDuration;
        // The pipeline's own concurrency limiter is the in-flight cap; beyond it requests wait their turn.
        resilience.RateLimiter.DefaultRateLimiterOptions.PermitLimit = options.MaxInFlight;
        resilience.RateLimiter.DefaultRateLimiterOptions.QueueLimit = int.MaxValue;
    }

    private static string WithTrailingSlash(string url) => url.EndsWith('/') ? url : url + "/";
}
