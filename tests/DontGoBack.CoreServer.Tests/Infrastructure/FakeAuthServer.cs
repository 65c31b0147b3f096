using System.Net;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>The auth server faked at the HTTP boundary: issues "token-1", "token-2", … and counts the requests.</summary>
public sealed class FakeAuthServer : HttpMessageHandler
{
    private int _issued;

    public int TokensIssued => Volatile.Read(ref _issued);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri!.AbsolutePath != "/msa/auth/api/token")
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound));
        var number = Interlocked.Increment(ref _issued);
        return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent($"token-{number}") });
    }
}
