using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.CoreServer.Domain.Assets;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace DontGoBack.CoreServer.InterServer.Extension;

/// <summary>
/// Asks the extension server for one user's asset of one day. Transient faults are retried by
/// the resilience pipeline below this client; what is left after that becomes a per-user
/// failure, or, when nobody can be served, an <see cref="ExtensionUnavailableException"/>.
/// </summary>
public sealed class ExtensionClient(HttpClient http)
{
    public const string UpdateAssetPath = "msa/ext/api/update-asset";

    public async Task<UpdateAssetOutcome> UpdateAssetAsync(long userId, long baseAmount, DateOnly day, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.PostAsJsonAsync($"{UpdateAssetPath}/{userId}", new UpdateAssetCall(baseAmount, day), cancellationToken);
        }
        catch (BrokenCircuitException e)
        {
            throw new ExtensionUnavailableException(FailureClass.Transient, "the extension server keeps failing; its circuit is open", e);
        }
        catch (TimeoutRejectedException)
        {
            return new AssetUpdateFailed(FailureClass.Transient, "timed out after retries");
        }
        catch (HttpRequestException e)
        {
            return new AssetUpdateFailed(FailureClass.Transient, $"request failed after retries: {e.Message}");
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            if (response.StatusCode == HttpStatusCode.Unauthorized)
                throw new ExtensionUnavailableException(FailureClass.Auth, "the extension server demands a token; configure Auth:BaseUrl");

            UpdateAssetAnswer? answer;
            try
            {
                answer = await response.Content.ReadFromJsonAsync<UpdateAssetAnswer>(cancellationToken);
            }
            catch (Exception e) when (e is JsonException or NotSupportedException)
            {
                answer = null;
            }

            if (response.IsSuccessStatusCode)
            {
                return answer is null
                    ? new AssetUpdateFailed(FailureClass.Permanent, $"invalid answer: HTTP {status} body is not the update-asset JSON")
                    : ExtensionAnswerValidation.Validate(userId, baseAmount, day, answer);
            }

            var failureClass = IsTransient(response.StatusCode) ? FailureClass.Transient : FailureClass.Permanent;
            return new AssetUpdateFailed(failureClass, $"HTTP {status}: {answer?.Message ?? response.ReasonPhrase}");
        }
    }

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;
}
