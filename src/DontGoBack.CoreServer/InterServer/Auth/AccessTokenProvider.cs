using System.Net.Http.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.InterServer.Extension;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.InterServer.Auth;

/// <summary>
/// Client-credentials token for service-to-service calls: fetched once, shared by all
/// concurrent callers, reused until it ages out or the extension server rejects it. A token fetched
/// to replace a rejected one is on probation until the extension server accepts it: rejected too,
/// the credentials themselves are refused, and no caller fetches again for it until
/// <see cref="RefusalHold"/> has passed: callers of the same run that were rejected a moment
/// before the refusal, or start after it, stop too instead of asking the auth server once more.
/// </summary>
public sealed class AccessTokenProvider(IHttpClientFactory httpClients, IOptions<AuthOptions> options, TimeProvider time)
{
    public const string HttpClientName = "auth";

    /// <summary>Most bytes a token answer may have: a JWT is well under 2 KiB, and a bigger answer is not a token.</summary>
    public const int MaxTokenBytes = 16 * 1_024;
    private const string TokenPath = "msa/auth/api/token";

    /// <summary>How long refused credentials are not asked for again: longer than a run takes to stop, short enough that a later run tries afresh.</summary>
    public static readonly TimeSpan RefusalHold = TimeSpan.FromMinutes(1);

    private readonly SemaphoreSlim _fetchLock = new(1, 1);
    private CachedToken? _cached;

    /// <summary>Set when a token is dropped as rejected, cleared when one is accepted: the next fetch is on probation.</summary>
    private volatile bool _replacingRejected;

    /// <summary>Set when a token on probation is refused, cleared when one is accepted: callers still holding a rejected token stop rather than fetch again.</summary>
    private volatile bool _credentialsRefused;

    /// <summary>When the credentials were last refused (UTC ticks): no fetch before <see cref="RefusalHold"/> has passed since.</summary>
    private long _refusedAtTicks;

    /// <summary>The cached token, or a new one; throws the refusal while refused credentials are held.</summary>
    public async ValueTask<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        if (Fresh(_cached) is { } token)
            return token;

        await _fetchLock.WaitAsync(cancellationToken);
        try
        {
            if (Fresh(_cached) is { } fetchedMeanwhile)
                return fetchedMeanwhile;
            ThrowWhileRefused();
            var value = await FetchAsync(cancellationToken);
            _cached = new CachedToken(value, time.GetUtcNow() + options.Value.TokenLifetime, OnProbation: _replacingRejected);
            return value;
        }
        finally
        {
            _fetchLock.Release();
        }
    }

    /// <summary>
    /// Drops the cached token if it is still the rejected one, so only one caller re-fetches. False when
    /// the credentials are refused: the rejected token was on probation (it replaced a rejected one and
    /// was never accepted), or one on probation was refused since the last token accepted. Then a new
    /// fetch would be refused as well, and a caller holding an older token must not fetch again either.
    /// </summary>
    public bool Invalidate(string rejectedToken)
    {
        var cached = _cached;
        var isCached = cached?.Value == rejectedToken;
        var refused = _credentialsRefused || (isCached && cached!.OnProbation && !cached.Accepted);
        if (isCached)
        {
            if (refused && !_credentialsRefused)
                Interlocked.Exchange(ref _refusedAtTicks, time.GetUtcNow().UtcTicks);
            _credentialsRefused = refused;
            _replacingRejected = true;
            Interlocked.CompareExchange(ref _cached, null, cached);
        }
        return !refused;
    }

    /// <summary>The extension server took the token (answered anything but 401): it is off probation.</summary>
    public void MarkAccepted(string token)
    {
        var cached = _cached;
        if (cached is { Accepted: false } && cached.Value == token)
        {
            cached.Accepted = true;
            _replacingRejected = false;
            _credentialsRefused = false;
        }
    }

    /// <summary>The error for credentials the extension server refused.</summary>
    public static ExtensionUnavailableException Refused() =>
        new(FailureClass.Auth, "the extension server rejected a freshly issued token (HTTP 401)");

    private void ThrowWhileRefused()
    {
        if (!_credentialsRefused)
            return;
        var refusedAt = new DateTimeOffset(Interlocked.Read(ref _refusedAtTicks), TimeSpan.Zero);
        if (time.GetUtcNow() < refusedAt + RefusalHold)
            throw Refused();
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
            {
                // Only a 401 or 403 is about the credentials; anything else is the auth server failing, which an operator fixes elsewhere.
                var status = (int)response.StatusCode;
                throw new ExtensionUnavailableException(FailureClass.Auth, status is 401 or 403
                    ? $"auth server refused the client credentials with HTTP {status}"
                    : $"auth server failed to issue a token: HTTP {status}");
            }
            var token = (await response.Content.ReadAsStringAsync(cancellationToken)).Trim();
            if (token.Length == 0)
                throw new ExtensionUnavailableException(FailureClass.Auth, "auth server answered an empty token");
            return token;
        }
    }

    private sealed record CachedToken(string Value, DateTimeOffset ExpiresAt, bool OnProbation)
    {
        public volatile bool Accepted;
    }
}
