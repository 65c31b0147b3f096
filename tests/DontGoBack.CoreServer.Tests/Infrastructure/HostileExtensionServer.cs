using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DontGoBack.MarketSimulation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// An extension and auth server on a free loopback port, a real Kestrel, that answers each user
/// the way a test tells it to: correctly by default (the stand-in's rule), or with any bytes,
/// status, headers, pace or broken connection. Counts each user's calls and the token requests.
/// </summary>
public sealed class HostileExtensionServer : IAsyncDisposable
{
    public const string ClientSecret = "hostile-secret";

    /// <summary>One update-asset call as the server saw it; Attempt counts from 1 per user.</summary>
    public sealed record Call(long UserId, long Asset, DateOnly Day, int Attempt);

    public delegate Task Behaviour(HttpContext http, Call call);

    private static readonly SimulatedExtension Extension = new(new MarketMoveRule(FakeExtensionServer.Salt));
    private static readonly byte[] Filler = Encoding.ASCII.GetBytes(new string('x', 64 * 1024));

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<long, Behaviour> _behaviours = new();
    private readonly ConcurrentDictionary<long, ConcurrentQueue<TimeSpan>> _calls = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _tokenRequests;

    private HostileExtensionServer(WebApplication app) => _app = app;

    public string Url => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    /// <summary>
    /// How the token endpoint answers; its call has user 0 and the request's number (from 1) as
    /// Attempt. Null is <see cref="IssueToken"/>.
    /// </summary>
    public Behaviour? TokenBehaviour { get; set; }

    /// <summary>How the bulk endpoint answers a call for these users; null answers 404, as a server without it does.</summary>
    public Func<HttpContext, IReadOnlyList<Call>, Task>? BulkBehaviour { get; set; }

    /// <summary>When set, every update-asset call gets 401 whatever its token.</summary>
    public bool RejectEveryToken { get; set; }

    public int TokenRequests => Volatile.Read(ref _tokenRequests);

    public int CallsFor(long userId) => _calls.TryGetValue(userId, out var times) ? times.Count : 0;

    /// <summary>When each of the user's calls arrived, since the server started.</summary>
    public IReadOnlyList<TimeSpan> CallTimesOf(long userId) => _calls.TryGetValue(userId, out var times) ? times.ToArray() : [];

    public void Answer(long userId, Behaviour behaviour) => _behaviours[userId] = behaviour;

    public static async Task<HostileExtensionServer> StartAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        // Calls a test left hanging end with their connection; no reason to wait long for them.
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new HostileExtensionServer(app);
        app.Run(server.HandleAsync);
        await app.StartAsync();
        return server;
    }

    private async Task HandleAsync(HttpContext http)
    {
        var path = http.Request.Path.Value ?? "";
        if (path == "/msa/auth/api/token")
        {
            var n = Interlocked.Increment(ref _tokenRequests);
            await (TokenBehaviour ?? IssueToken)(http, new Call(0, 0, default, n));
            return;
        }

        if (path == "/msa/ext/api/update-assets" && BulkBehaviour is { } bulk)
        {
            var request = await JsonSerializer.DeserializeAsync<UpdateAssetsRequest>(http.Request.Body, JsonSerializerOptions.Web, http.RequestAborted);
            var calls = request!.Assets!.Select(item => Record(item.UserId, item.Asset!.Value, request.SnapshotDay!.Value)).ToList();
            await bulk(http, calls);
            return;
        }

        const string prefix = "/msa/ext/api/update-asset/";
        if (!path.StartsWith(prefix, StringComparison.Ordinal) || !long.TryParse(path[prefix.Length..], out var userId))
        {
            http.Response.StatusCode = 404;
            return;
        }
        if (RejectEveryToken || !http.Request.Headers.Authorization.ToString().StartsWith("Bearer token-", StringComparison.Ordinal))
        {
            http.Response.StatusCode = 401;
            return;
        }
        var body = await JsonSerializer.DeserializeAsync<UpdateAssetRequest>(http.Request.Body, JsonSerializerOptions.Web, http.RequestAborted);
        var call = Record(userId, body!.Asset!.Value, body.SnapshotDay!.Value);
        await _behaviours.GetValueOrDefault(userId, Correct)(http, call);
    }

    private Call Record(long userId, long asset, DateOnly day)
    {
        var times = _calls.GetOrAdd(userId, _ => new ConcurrentQueue<TimeSpan>());
        times.Enqueue(_clock.Elapsed);
        return new Call(userId, asset, day, times.Count);
    }

    /// <summary>The stand-in's bulk answer for these users.</summary>
    public static Task CorrectBulk(HttpContext http, IReadOnlyList<Call> calls)
    {
        var answer = Extension.UpdateAssets(new UpdateAssetsRequest(calls[0].Day, calls.Select(c => new UpdateAssetsItem(c.UserId, c.Asset)).ToList()));
        return WriteAsync(http, answer.StatusCode, "application/json", JsonSerializer.Serialize(answer.Body, JsonSerializerOptions.Web));
    }

    /// <summary>An honest token endpoint: "token-n" for the n-th request.</summary>
    public static Task IssueToken(HttpContext http, Call call) => WriteAsync(http, 200, "text/plain", $"token-{call.Attempt}");

    /// <summary>The stand-in's answer: what an honest extension server says.</summary>
    public static Task Correct(HttpContext http, Call call)
    {
        var answer = Extension.UpdateAsset(call.UserId, new UpdateAssetRequest(call.Asset, call.Day));
        return WriteAsync(http, answer.StatusCode, "application/json", JsonSerializer.Serialize(answer.Body, JsonSerializerOptions.Web));
    }

    /// <summary>The amount and multiplier the honest answer has.</summary>
    public static (double Multiplier, long Updated) Honest(Call call)
    {
        var data = Extension.UpdateAsset(call.UserId, new UpdateAssetRequest(call.Asset, call.Day)).Body.Data!;
        return (data.Multiplier, data.UpdatedAsset);
    }

    /// <summary>A 200 with result code S whose data fields are written as given (JSON text, so anything goes).</summary>
    public static Behaviour Success(Func<Call, (string UserId, string Multiplier, string UpdatedAsset)> fields) => (http, call) =>
    {
        var (userId, multiplier, updated) = fields(call);
        return WriteAsync(http, 200, "application/json",
            $$$"""{"resultCode":"S","message":"Update asset success","data":{"userId":{{{userId}}},"originalAsset":{{{call.Asset}}},"multiplier":{{{multiplier}}},"updatedAsset":{{{updated}}},"date":"{{{call.Day:yyyy-MM-dd}}}"}}""");
    };

    public static Behaviour Json(int status, string json) => (http, _) => WriteAsync(http, status, "application/json", json);

    /// <summary>The first <paramref name="count"/> calls of the user get <paramref name="first"/>, later ones <paramref name="then"/>.</summary>
    public static Behaviour FirstCalls(int count, Behaviour first, Behaviour then) =>
        (http, call) => call.Attempt <= count ? first(http, call) : then(http, call);

    /// <summary>A status with a Retry-After header, as a server that wants to be left alone answers.</summary>
    public static Behaviour RetryAfter(int status, string retryAfter) => (http, _) =>
    {
        http.Response.Headers.RetryAfter = retryAfter;
        return WriteAsync(http, status, "application/json", """{"resultCode":"F","message":"slow down"}""");
    };

    /// <summary>A 200 whose JSON string never ends: <paramref name="bytes"/> bytes of filler, chunked, as fast as the connection takes them.</summary>
    public static Behaviour Oversized(long bytes) => async (http, _) =>
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        try
        {
            await http.Response.Body.WriteAsync("{\"resultCode\":\"S\",\"message\":\""u8.ToArray(), http.RequestAborted);
            // Kestrel drops writes to a connection the client closed without failing them.
            for (var sent = 0L; sent < bytes && !http.RequestAborted.IsCancellationRequested; sent += Filler.Length)
                await http.Response.Body.WriteAsync(Filler, http.RequestAborted);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client hung up, as it should.
        }
    };

    /// <summary>A 200 that declares a Content-Length of <paramref name="bytes"/>, sends the headers and then nothing: reading it would hang.</summary>
    public static Behaviour DeclaresLength(long bytes) => async (http, _) =>
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = bytes;
        await http.Response.StartAsync(http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
        try
        {
            await Task.Delay(Timeout.Infinite, http.RequestAborted);
        }
        catch (OperationCanceledException)
        {
        }
    };

    /// <summary>A 200 that sends one space (JSON whitespace) every <paramref name="interval"/>, forever.</summary>
    public static Behaviour Drip(TimeSpan interval) => async (http, _) =>
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        try
        {
            await http.Response.StartAsync(http.RequestAborted);
            while (true)
            {
                await http.Response.Body.WriteAsync(" "u8.ToArray(), http.RequestAborted);
                await http.Response.Body.FlushAsync(http.RequestAborted);
                await Task.Delay(interval, http.RequestAborted);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
        }
    };

    /// <summary>
    /// The correct answer with its full Content-Length, but the connection is torn down halfway
    /// through the body. The pause lets the first half reach the client, so the break usually
    /// comes mid-body; if it comes before the headers, that is a reset the client must survive too.
    /// </summary>
    public static Behaviour CutOffHalfway => async (http, call) =>
    {
        var answer = Extension.UpdateAsset(call.UserId, new UpdateAssetRequest(call.Asset, call.Day));
        var bytes = JsonSerializer.SerializeToUtf8Bytes(answer.Body, JsonSerializerOptions.Web);
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
        await http.Response.Body.FlushAsync();
        // Part of the behaviour, not a wait for an outcome: the client gets the first half before the connection breaks.
        await Task.Delay(50);
        http.Abort();
    };

    public static async Task WriteAsync(HttpContext http, int status, string contentType, string body)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = contentType;
        await http.Response.WriteAsync(body, Encoding.UTF8);
    }

    public static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
