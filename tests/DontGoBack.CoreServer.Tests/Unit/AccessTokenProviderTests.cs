using System.Net;
using System.Text.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.InterServer.Auth;
using DontGoBack.CoreServer.InterServer.Extension;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class AccessTokenProviderTests : IDisposable
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(4);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 8, 10, 0, 0, 0, TimeSpan.Zero));
    private readonly FakeAuthServer _auth = new();
    private readonly AuthEndpointControl _endpoint;
    private readonly ServiceProvider _services;
    private readonly AccessTokenProvider _provider;

    public AccessTokenProviderTests()
    {
        _endpoint = new AuthEndpointControl(_auth);
        var services = new ServiceCollection();
        services.AddHttpClient(AccessTokenProvider.HttpClientName, c => c.BaseAddress = new Uri("http://auth.test/"))
            .ConfigurePrimaryHttpMessageHandler(() => _endpoint);
        _services = services.BuildServiceProvider();
        var options = Microsoft.Extensions.Options.Options.Create(new AuthOptions
        {
            BaseUrl = "http://auth.test/",
            ClientId = "core",
            ClientSecret = "core-secret",
            TokenLifetime = Lifetime,
        });
        _provider = new AccessTokenProvider(_services.GetRequiredService<IHttpClientFactory>(), options, _time);
    }

    public void Dispose() => _services.Dispose();

    private ValueTask<string> Token() => _provider.GetTokenAsync(CancellationToken.None);

    [Fact]
    public async Task The_token_is_fetched_with_the_client_credentials_and_then_reused()
    {
        Assert.Equal("token-1", await Token());
        Assert.Equal("token-1", await Token());

        Assert.Equal(1, _endpoint.Requests);
        Assert.Equal(1, _auth.TokensIssued);
        Assert.Equal(HttpMethod.Post, _endpoint.LastMethod);
        using var body = JsonDocument.Parse(_endpoint.LastBody!);
        Assert.Equal("core", body.RootElement.GetProperty("clientId").GetString());
        Assert.Equal("core-secret", body.RootElement.GetProperty("clientSecret").GetString());
    }

    [Fact]
    public async Task Twenty_concurrent_callers_share_one_fetch()
    {
        var hold = _endpoint.HoldRequests();

        var called = 0;
        var allCalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var callers = Enumerable.Range(0, 20).Select(_ => Task.Run(() =>
        {
            var token = Token().AsTask();
            if (Interlocked.Increment(ref called) == 20)
                allCalled.SetResult();
            return token;
        })).ToArray();
        // Keep the first fetch in flight until every caller's call has returned, i.e. is waiting
        // for that fetch; without the shared fetch each of them would reach the endpoint too.
        await _endpoint.FirstRequestArrived.WaitAsync(TimeSpan.FromSeconds(10));
        await allCalled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        hold.SetResult();
        var tokens = await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.All(tokens, t => Assert.Equal("token-1", t));
        Assert.Equal(1, _endpoint.Requests);
    }

    [Fact]
    public async Task A_new_token_is_fetched_once_the_lifetime_has_passed()
    {
        Assert.Equal("token-1", await Token());

        _time.Advance(Lifetime - TimeSpan.FromTicks(1));
        Assert.Equal("token-1", await Token());
        Assert.Equal(1, _endpoint.Requests);

        _time.Advance(TimeSpan.FromTicks(1));
        Assert.Equal("token-2", await Token());
        Assert.Equal("token-2", await Token());
        Assert.Equal(2, _endpoint.Requests);
    }

    [Fact]
    public async Task Invalidating_the_rejected_token_makes_the_next_call_fetch_a_new_one()
    {
        var rejected = await Token();

        _provider.Invalidate(rejected);

        Assert.Equal("token-2", await Token());
        Assert.Equal(2, _endpoint.Requests);
    }

    [Fact]
    public async Task Invalidating_an_older_token_keeps_the_current_one()
    {
        var old = await Token();
        _provider.Invalidate(old);
        Assert.Equal("token-2", await Token());

        // A late caller reports the token it was rejected with, which is no longer the cached one.
        _provider.Invalidate(old);
        _provider.Invalidate("never-issued");

        Assert.Equal("token-2", await Token());
        Assert.Equal(2, _endpoint.Requests);
    }

    [Fact]
    public async Task A_replacement_rejected_before_it_was_ever_accepted_is_refused_for_every_caller_holding_it()
    {
        Assert.True(_provider.Invalidate(await Token()));
        var replacement = await Token();

        // The caller that fetched it, one that took it from the cache before the refusal, and one
        // whose answer to the first token came after it.
        Assert.False(_provider.Invalidate(replacement));
        Assert.False(_provider.Invalidate(replacement));
        Assert.False(_provider.Invalidate("token-1"));
        Assert.Equal(2, _endpoint.Requests);

        // Until the hold has passed nobody asks again; a later run asks again, once, and the token
        // it gets is on probation in its turn.
        await Assert.ThrowsAsync<ExtensionUnavailableException>(() => Token().AsTask());
        _time.Advance(AccessTokenProvider.RefusalHold - TimeSpan.FromTicks(1));
        await Assert.ThrowsAsync<ExtensionUnavailableException>(() => Token().AsTask());
        Assert.Equal(2, _endpoint.Requests);
        _time.Advance(TimeSpan.FromTicks(1));
        var next = await Token();
        Assert.Equal("token-3", next);
        Assert.False(_provider.Invalidate(next));
        Assert.Equal(3, _endpoint.Requests);
    }

    [Fact]
    public async Task A_caller_rejected_just_before_the_refusal_stops_instead_of_fetching_a_third_token()
    {
        var first = await Token();
        // Two callers were rejected with the first token: one replaces it, the other's answer is late.
        Assert.True(_provider.Invalidate(first));
        var replacement = await Token();
        Assert.True(_provider.Invalidate(first));
        // The replacement is refused before the late caller asks for a token again.
        Assert.False(_provider.Invalidate(replacement));

        var error = await Assert.ThrowsAsync<ExtensionUnavailableException>(() => Token().AsTask());

        Assert.Equal(FailureClass.Auth, error.FailureClass);
        Assert.Contains("rejected a freshly issued token", error.Message);
        Assert.Equal(2, _endpoint.Requests);
    }

    [Fact]
    public async Task A_replacement_once_accepted_is_replaced_as_usual_when_rejected_later()
    {
        Assert.True(_provider.Invalidate(await Token()));
        var replacement = await Token();
        _provider.MarkAccepted(replacement);

        Assert.True(_provider.Invalidate(replacement));
        Assert.Equal("token-3", await Token());
        Assert.Equal(3, _endpoint.Requests);
    }

    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, "refused the client credentials")]
    [InlineData(HttpStatusCode.Forbidden, "refused the client credentials")]
    [InlineData(HttpStatusCode.InternalServerError, "failed to issue a token")]
    [InlineData(HttpStatusCode.ServiceUnavailable, "failed to issue a token")]
    public async Task A_refusal_from_the_auth_server_is_an_auth_failure_that_says_whether_the_credentials_were_refused(HttpStatusCode status, string says)
    {
        _endpoint.RefuseWith = status;

        var error = await Assert.ThrowsAsync<ExtensionUnavailableException>(() => Token().AsTask());

        Assert.Equal(FailureClass.Auth, error.FailureClass);
        Assert.Contains($"HTTP {(int)status}", error.Message);
        Assert.Contains(says, error.Message);
    }

    [Fact]
    public async Task A_refusal_is_not_cached_and_the_next_call_fetches_again()
    {
        _endpoint.RefuseWith = HttpStatusCode.Unauthorized;
        await Assert.ThrowsAsync<ExtensionUnavailableException>(() => Token().AsTask());

        _endpoint.RefuseWith = null;

        Assert.Equal("token-1", await Token());
        Assert.Equal(2, _endpoint.Requests);
    }

    [Fact]
    public async Task An_empty_token_is_an_auth_failure()
    {
        _endpoint.AnswerEmpty = true;

        var error = await Assert.ThrowsAsync<ExtensionUnavailableException>(() => Token().AsTask());

        Assert.Equal(FailureClass.Auth, error.FailureClass);
        Assert.Contains("empty token", error.Message);
    }

    [Fact]
    public async Task An_unreachable_auth_server_is_an_auth_failure()
    {
        _endpoint.Unreachable = true;

        var error = await Assert.ThrowsAsync<ExtensionUnavailableException>(() => Token().AsTask());

        Assert.Equal(FailureClass.Auth, error.FailureClass);
        Assert.IsType<HttpRequestException>(error.InnerException);
    }

    /// <summary>
    /// In front of <see cref="FakeAuthServer"/>: counts and records requests, and can hold them
    /// open, refuse them, answer an empty body or act unreachable.
    /// </summary>
    private sealed class AuthEndpointControl(FakeAuthServer server) : DelegatingHandler(server)
    {
        private readonly TaskCompletionSource _firstRequest = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource? _hold;
        private int _requests;

        public int Requests => Volatile.Read(ref _requests);
        public Task FirstRequestArrived => _firstRequest.Task;
        public HttpStatusCode? RefuseWith { get; set; }
        public bool AnswerEmpty { get; set; }
        public bool Unreachable { get; set; }
        public HttpMethod? LastMethod { get; private set; }
        public string? LastBody { get; private set; }

        /// <summary>Requests wait until the returned source is completed.</summary>
        public TaskCompletionSource HoldRequests() => _hold = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _requests);
            LastMethod = request.Method;
            LastBody = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            _firstRequest.TrySetResult();
            if (_hold is { } hold)
                await hold.Task.WaitAsync(cancellationToken);
            if (Unreachable)
                throw new HttpRequestException("connection refused");
            if (RefuseWith is { } status)
                return new HttpResponseMessage(status);
            if (AnswerEmpty)
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(" \n") };
            // FakeAuthServer answers 404 to any other path, which would fail these tests.
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
