using System.Net;
using System.Net.Http.Headers;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.InterServer.Extension;

namespace DontGoBack.CoreServer.InterServer.Auth;

/// <summary>Adds the service token; on a 401 fetches a new one and tries exactly once more.</summary>
public sealed class BearerTokenHandler(AccessTokenProvider tokens) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var token = await tokens.GetTokenAsync(cancellationToken);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await base.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
            return response;

        response.Dispose();
        tokens.Invalidate(token);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await tokens.GetTokenAsync(cancellationToken));
        response = await base.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
            return response;

        response.Dispose();
        throw new ExtensionUnavailableException(FailureClass.Auth, "the extension server rejected a freshly issued token (HTTP 401)");
    }
}
