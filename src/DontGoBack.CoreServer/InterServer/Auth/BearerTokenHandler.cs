using System.Net;
using System.Net.Http.Headers;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.InterServer.Extension;

namespace DontGoBack.CoreServer.InterServer.Auth;

/// <summary>
/// Adds the service token; on a 401 fetches a new one and tries exactly once more. A 401 for a token
/// on probation (<see cref="AccessTokenProvider"/>) stops at once: the credentials are refused.
/// </summary>
public sealed class BearerTokenHandler(AccessTokenProvider tokens) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var token = await tokens.GetTokenAsync(cancellationToken);
        var response = await SendWithAsync(token, request, cancellationToken);
        if (response is not null)
            return response;
        if (!tokens.Invalidate(token))
            throw AccessTokenProvider.Refused();

        var fresh = await tokens.GetTokenAsync(cancellationToken);
        response = await SendWithAsync(fresh, request, cancellationToken);
        if (response is not null)
            return response;
        tokens.Invalidate(fresh);
        throw AccessTokenProvider.Refused();
    }

    /// <summary>The answer, or null for a 401 (disposed).</summary>
    private async Task<HttpResponseMessage?> SendWithAsync(string token, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await base.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            tokens.MarkAccepted(token);
            return response;
        }
        response.Dispose();
        return null;
    }
}
