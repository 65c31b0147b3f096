using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace DontGoBack.MarketSimulation;

public static class SimulatorEndpoints
{
    public const string TokenPath = "/msa/auth/api/token";
    public const string UpdateAssetPath = "/msa/ext/api/update-asset";
    public const string UpdateAssetsPath = "/msa/ext/api/update-assets";

    public static IHostApplicationBuilder AddExtensionSimulator(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SimulatorOptions>()
            .BindConfiguration(SimulatorOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<SimulatorOptions>>().Value);
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<SimulatorOptions>();
            return new MarketMoveRule(options.Salt, options.Sigma, options.Clamp);
        });
        builder.Services.AddSingleton(sp => new SimulatedExtension(
            sp.GetRequiredService<MarketMoveRule>(), sp.GetRequiredService<SimulatorOptions>().MaxBulkItems));
        builder.Services.AddSingleton<SimulatedTokenIssuer>();
        builder.Services.AddSingleton<SimulatorCallCounter>();
        builder.Services.AddSingleton<SimulatedLatency>();
        return builder;
    }

    public static IEndpointRouteBuilder MapExtensionSimulator(this IEndpointRouteBuilder app)
    {
        app.MapPost(TokenPath, (TokenRequest request, SimulatedTokenIssuer issuer) =>
            issuer.Issue(request.ClientId, request.ClientSecret) is { } token
                ? Results.Text(token, "text/plain")
                : Results.Unauthorized());

        app.MapPost($"{UpdateAssetPath}/{{userId:long}}", async (
            long userId, UpdateAssetRequest request, HttpContext http, SimulatorOptions options,
            SimulatedTokenIssuer issuer, SimulatedExtension extension, SimulatorCallCounter counter, SimulatedLatency latency,
            CancellationToken cancellationToken) =>
        {
            if (!issuer.IsValid(BearerToken(http.Request)))
                return Results.Unauthorized();
            counter.Record([userId]);
            if (options.AddedLatencyMs > 0)
                await latency.WaitAsync(TimeSpan.FromMilliseconds(options.AddedLatencyMs), cancellationToken);
            if (options.ErrorRate > 0 && Random.Shared.NextDouble() < options.ErrorRate)
                return Results.Json(ApiResponse.Failure("Unexpected error occurred."), statusCode: 500);

            var answer = extension.UpdateAsset(userId, request);
            return Results.Json(answer.Body, statusCode: answer.StatusCode);
        });

        app.MapPost(UpdateAssetsPath, async (
            UpdateAssetsRequest request, HttpContext http, SimulatorOptions options,
            SimulatedTokenIssuer issuer, SimulatedExtension extension, SimulatorCallCounter counter, SimulatedLatency latency,
            CancellationToken cancellationToken) =>
        {
            if (!issuer.IsValid(BearerToken(http.Request)))
                return Results.Unauthorized();
            counter.Record(request.Assets?.Select(a => a.UserId) ?? []);
            if (options.AddedLatencyMs > 0)
                await latency.WaitAsync(TimeSpan.FromMilliseconds(options.AddedLatencyMs), cancellationToken);
            if (options.ErrorRate > 0 && Random.Shared.NextDouble() < options.ErrorRate)
                return Results.Json(ApiResponse.Failure("Unexpected error occurred."), statusCode: 500);

            var answer = extension.UpdateAssets(request);
            return Results.Json(answer.Body, statusCode: answer.StatusCode);
        });

        app.MapGet("/msa/ext/stats", (SimulatorCallCounter counter) => new { usersAskedFor = counter.Count, distinctUsers = counter.DistinctUsers, repeatedUsers = counter.RepeatedUsers });
        return app;
    }

    private static string? BearerToken(HttpRequest request) =>
        request.Headers.Authorization.ToString() is { } header && header.StartsWith("Bearer ", StringComparison.Ordinal)
            ? header["Bearer ".Length..]
            : null;

    private sealed record TokenRequest(string? ClientId, string? ClientSecret);
}

/// <summary>
/// Counts users asked for (one per single call, the item count of a bulk call) so load and
/// cluster tests can check "one call per user"; with Simulator:TrackUsers also per user.
/// </summary>
public sealed class SimulatorCallCounter(SimulatorOptions options)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, int> _perUser = new();
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    /// <summary>Users asked for more than once (only with Simulator:TrackUsers).</summary>
    public int RepeatedUsers => _perUser.Count(entry => entry.Value > 1);

    public int DistinctUsers => _perUser.Count;

    public void Record(IEnumerable<long> userIds)
    {
        foreach (var userId in userIds)
        {
            Interlocked.Increment(ref _count);
            if (options.TrackUsers)
                _perUser.AddOrUpdate(userId, 1, (_, calls) => calls + 1);
        }
    }
}
