using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Hosting;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace DontGoBack.CoreServer.InterServer.Extension;

/// <summary>
/// Asks the extension server for users' assets of one day, one user per call or many with the
/// bulk endpoint. Transient faults are retried by the resilience pipeline below this client;
/// an answer that is still a failure after that becomes a per-user failure, and a server that
/// cannot be connected to (or an open circuit) an <see cref="ExtensionUnavailableException"/>
/// that stops the run.
/// </summary>
public sealed class ExtensionClient(HttpClient http, ExtensionCapabilities capabilities, IOptions<ExtensionOptions> options)
{
    public const string UpdateAssetPath = "msa/ext/api/update-asset";
    public const string UpdateAssetsPath = "msa/ext/api/update-assets";

    /// <param name="retries">The run the call is made for, whose retries it counts as (null: none).</param>
    public async Task<UpdateAssetOutcome> UpdateAssetAsync(AssetUpdateRequest request, DateOnly day, RunRetries? retries, CancellationToken cancellationToken)
    {
        var sent = await SendAsync(
            () => PostAsync($"{UpdateAssetPath}/{request.UserId}", new UpdateAssetCall(request.BaseAmount, day), bulk: false, retries, cancellationToken));
        if (sent.Failure is { } failure)
            return failure;

        using var response = sent.Response!;
        var answer = await ReadAsync<UpdateAssetAnswer>(response, cancellationToken);
        if (!response.IsSuccessStatusCode)
            return StatusFailure(response, answer?.Message);
        return answer is null
            ? new AssetUpdateFailed(FailureClass.Permanent, $"invalid answer: HTTP {(int)response.StatusCode} body is not the update-asset JSON")
            : ExtensionAnswerValidation.Validate(request.UserId, request.BaseAmount, day, options.Value.MaxDailyMove, answer);
    }

    /// <summary>One outcome per request, in order; falls back to one call per user on a server without the bulk endpoint.</summary>
    /// <param name="retries">The run the calls are made for, whose retries they count as (null: none).</param>
    public async Task<IReadOnlyList<UpdateAssetOutcome>> UpdateAssetsAsync(
        IReadOnlyList<AssetUpdateRequest> requests, DateOnly day, RunRetries? retries, CancellationToken cancellationToken)
    {
        if (requests.Count == 1 || capabilities.BulkUnsupported)
            return await UpdateOneByOneAsync(requests, day, retries, cancellationToken);

        var call = new UpdateAssetsCall(day, requests.Select(r => new UpdateAssetsCallItem(r.UserId, r.BaseAmount)).ToArray());
        var sent = await SendAsync(() => PostAsync(UpdateAssetsPath, call, bulk: true, retries, cancellationToken));
        if (sent.Failure is { } failure)
            return Enumerable.Repeat<UpdateAssetOutcome>(failure, requests.Count).ToArray();

        using var response = sent.Response!;
        if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
        {
            capabilities.MarkBulkUnsupported();
            return await UpdateOneByOneAsync(requests, day, retries, cancellationToken);
        }

        var answer = await ReadAsync<UpdateAssetsAnswer>(response, cancellationToken);
        UpdateAssetOutcome? wholeCallFailure =
            !response.IsSuccessStatusCode ? StatusFailure(response, answer?.Message)
            : answer is null ? new AssetUpdateFailed(FailureClass.Permanent, "invalid answer: body is not the update-assets JSON")
            : answer.ResultCode is null || !answer.ResultCode.StartsWith('S') ? new AssetUpdateFailed(FailureClass.Permanent, $"invalid answer: result code '{answer.ResultCode}': {answer.Message}")
            : answer.Data?.Count != requests.Count ? new AssetUpdateFailed(FailureClass.Permanent, $"invalid answer: {answer.Data?.Count ?? 0} answers for {requests.Count} users")
            : null;
        if (wholeCallFailure is not null)
            return Enumerable.Repeat(wholeCallFailure, requests.Count).ToArray();

        var outcomes = new UpdateAssetOutcome[requests.Count];
        var maxDailyMove = options.Value.MaxDailyMove;
        for (var i = 0; i < requests.Count; i++)
        {
            outcomes[i] = answer!.Data![i] is { } single
                ? ExtensionAnswerValidation.Validate(requests[i].UserId, requests[i].BaseAmount, day, maxDailyMove, single)
                : new AssetUpdateFailed(FailureClass.Permanent, "invalid answer: no answer for this user");
        }
        return outcomes;
    }

    private async Task<IReadOnlyList<UpdateAssetOutcome>> UpdateOneByOneAsync(
        IReadOnlyList<AssetUpdateRequest> requests, DateOnly day, RunRetries? retries, CancellationToken cancellationToken)
    {
        var outcomes = new UpdateAssetOutcome[requests.Count];
        for (var i = 0; i < requests.Count; i++)
            outcomes[i] = await UpdateAssetAsync(requests[i], day, retries, cancellationToken);
        return outcomes;
    }

    private async Task<(HttpResponseMessage? Response, AssetUpdateFailed? Failure)> SendAsync(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            var response = await send();
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                response.Dispose();
                throw new ExtensionUnavailableException(FailureClass.Auth, "the extension server demands a token; configure Auth:BaseUrl");
            }
            return (response, null);
        }
        catch (BrokenCircuitException e)
        {
            throw new ExtensionUnavailableException(FailureClass.Transient, "the extension server keeps failing; its circuit is open", e);
        }
        catch (TimeoutRejectedException e)
        {
            return (null, new AssetUpdateFailed(FailureClass.Transient, e.Timeout == options.Value.UserDeadline
                ? $"no answer within the deadline of {e.Timeout.TotalSeconds:0.###} s"
                : "timed out after retries"));
        }
        catch (AnswerTooLargeException e)
        {
            return (null, new AssetUpdateFailed(FailureClass.Permanent, $"invalid answer: {e.Message}"));
        }
        catch (AnswerCutOffException e)
        {
            // The server answered, so it is up; the body broke off on every attempt.
            return (null, new AssetUpdateFailed(FailureClass.Transient, $"{e.Message} (after retries)"));
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.NameResolutionError
                                                 or HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError
                                                 or HttpRequestError.ProxyTunnelError)
        {
            // No connection even after retries (refused, unresolvable): the server is down for
            // everyone, so the run stops instead of failing each remaining user in turn.
            throw new ExtensionUnavailableException(FailureClass.Transient, $"extension server unreachable: {e.Message}", e);
        }
        catch (HttpRequestException e)
        {
            // Connected, then this exchange broke (reset before the answer, malformed answer): this
            // call's users fail; a server that does it to everyone opens the circuit instead.
            var cause = e.InnerException is { } inner ? $" ({inner.Message})" : "";
            return (null, new AssetUpdateFailed(FailureClass.Transient, $"no answer after retries: {e.Message}{cause}"));
        }
    }

    /// <summary>
    /// The body is serialised once up front: a sized body is cheaper for both ends than a
    /// streamed, chunked one, and a retry sends the same bytes again. The answer comes back
    /// already read, within its attempt and its size limit (see <see cref="BoundedAnswerHandler"/>).
    /// </summary>
    private Task<HttpResponseMessage> PostAsync<T>(string path, T body, bool bulk, RunRetries? retries, CancellationToken cancellationToken)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, JsonSerializerOptions.Web));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        if (bulk)
            request.Options.Set(BoundedAnswerHandler.MaxBytes, options.Value.MaxBulkAnswerBytes);
        if (retries is not null)
            request.Options.Set(RunRetries.Option, retries);
        return http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    /// <summary>The answer, or null when it is not the expected JSON.</summary>
    private static async Task<T?> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(cancellationToken);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            return null;
        }
    }

    private static AssetUpdateFailed StatusFailure(HttpResponseMessage response, string? message)
    {
        var status = response.StatusCode;
        var transient = status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;
        return new AssetUpdateFailed(transient ? FailureClass.Transient : FailureClass.Permanent,
            $"HTTP {(int)status}: {message ?? response.ReasonPhrase}");
    }
}
