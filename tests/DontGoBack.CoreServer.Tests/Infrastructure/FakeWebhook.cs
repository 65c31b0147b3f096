using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>An alert receiver on a free loopback port, as a real HTTP server: records every call and answers as told.</summary>
public sealed class FakeWebhook : IAsyncDisposable
{
    public sealed record Call(int No, JsonElement Body, string? IdempotencyKey, int AnsweredWith);

    /// <summary>How to answer the call with this number (1-based); default 200.</summary>
    public delegate Task Answer(int callNo, HttpContext http);

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Call> _calls = new();
    private int _count;
    private TaskCompletionSource _callArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private FakeWebhook(WebApplication app) => _app = app;

    public string Url => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/alerts";

    public Answer? Behaviour { get; set; }

    public IReadOnlyList<Call> Calls => _calls.ToArray();

    /// <summary>The bodies of calls answered 2xx: what the receiver took.</summary>
    public IReadOnlyList<JsonElement> Received => _calls.Where(c => c.AnsweredWith is >= 200 and < 300).Select(c => c.Body).ToList();

    public static async Task<FakeWebhook> StartAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var webhook = new FakeWebhook(app);
        app.MapPost("/alerts", webhook.HandleAsync);
        await app.StartAsync();
        return webhook;
    }

    /// <summary>Holds the call until the caller gives up.</summary>
    public static Task Hang(HttpContext http) => Task.Delay(Timeout.Infinite, http.RequestAborted);

    /// <summary>Waits until <paramref name="count"/> calls have been received and answered.</summary>
    public async Task WaitForCallsAsync(int count, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        while (_calls.Count < count)
        {
            var next = Volatile.Read(ref _callArrived).Task;
            if (_calls.Count >= count)
                break;
            try
            {
                await next.WaitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{_calls.Count} webhook calls within {timeout}, not {count}: {string.Join("\n", _calls.Select(c => c.Body))}");
            }
        }
    }

    private async Task HandleAsync(HttpContext http)
    {
        var no = Interlocked.Increment(ref _count);
        var body = await JsonSerializer.DeserializeAsync<JsonElement>(http.Request.Body);
        // 0: the caller gave up before an answer (a hanging receiver).
        var answeredWith = 0;
        try
        {
            if (Behaviour is { } answer)
                await answer(no, http);
            answeredWith = http.Response.StatusCode;
        }
        finally
        {
            _calls.Enqueue(new Call(no, body, http.Request.Headers["Idempotency-Key"].FirstOrDefault(), answeredWith));
            Interlocked.Exchange(ref _callArrived, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
