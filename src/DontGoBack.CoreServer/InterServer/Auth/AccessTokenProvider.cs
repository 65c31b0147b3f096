using System.Net.Http.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.InterServer.Extension;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.InterServer.Auth;

/// <summary>
/// Client-credentials token for service-to-service calls: fetched once, shared by all
/// concurrent callers, reused until it ages out or the extension server rejects it.
/// </summary>
public sealed class AccessTokenProvider(IHttpClientFactory httpClients, IOptions<AuthOptions> options, TimeProvider time)
{
    public const string HttpClientName = "auth";

    /// <summary>Most bytes a token answer may have: a JWT is well under 2 KiB, and a bigger answer is not a token.</summary>
    public const int MaxTokenBytes = 16 * 1_024;
    private const string TokenPath = "msa/auth/api/token";

    private readonly SemaphoreSlim _fetchLock = new(1, 1);
    private CachedToken? _cached;

    public async ValueTask<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        if (Fresh(_cached) is { } token)
            return token;

        await _fetchLock.WaitAsync(cancellationToken);
        try
        {
            if (Fresh(_cached) is { } fetchedMeanwhile)
                return fetchedMeanwhile;
            var value = await FetchAsync(cancellationToken);
            _cached = new CachedToken(value, time.GetUtcNow() + options.Value.TokenLifetime);
            return value;
        }
        finally
        {
            _fetchLock.Release();
        }
    }

    /// <summary>Drops the cached token if it is still the rejected one, so only one caller re-fetches.</summary>
    public void Invalidate(string rejectedToken)
    {
        var cached = _cached;
        if (cached?.Value == rejectedToken)
            Interlocked.CompareExchange(ref _cached, null, cached);
    }

    private string? Fresh(CachedToken? cached) => cached is not null && cached.ExpiresAt > time.GetUtcNow() ? cached.Value : null;

    private async Task<string> FetchAsync(CancellationToken cancellationToken)
    {
        var http = httpClients.CreateClient(HttpClientName);
        HttpResponseMessage response;
        try
        {
            response = await http.PostAsJsonAsync(TokenPath,
                new { clientId = options.Value.ClientId, clientSecret = options.Value.ClientSecret }, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or Polly.Timeout.TimeoutRejectedException
                                      or Polly.CircuitBreaker.BrokenCircuitException
                                      || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new ExtensionUnavailableException(FailureClass.Auth, $"auth server unreachable: {e.Message}", e);
        }
        catch (AnswerTooLargeException e)
        {
            throw new ExtensionUnavailableException(FailureClass.Auth, $"auth server's token answer is larger than {e.Limit} bytes", e);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
                throw new ExtensionUnavailableException(FailureClass.Auth, $"auth server refused the client credentials with HTTP {(int)response.StatusCode}");
            var token = (await response.Content.ReadAsStringAsync(cancellationToken)).Trim();
            if (token.Length == 0)
                throw new ExtensionUnavailableException(FailureClass.Auth, "auth server answered an empty token");
            return token;
        }
    }

    private sealed record CachedToken(string Value, DateTimeOffset ExpiresAt);
}
