using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.MarketSimulation;

namespace DontGoBack.CoreServer.InterServer.Extension;

/// <summary>
/// The embedded default: answers update-asset calls in process with the stand-in's rule, so
/// the whole client path (serialisation, validation, resilience) runs without a second server.
/// </summary>
public sealed class InProcessExtensionHandler(SimulatedExtension extension) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri?.AbsolutePath.TrimStart('/') ?? "";
        var prefix = ExtensionClient.UpdateAssetPath + "/";
        if (request.Method != HttpMethod.Post || !path.StartsWith(prefix, StringComparison.Ordinal)
            || !long.TryParse(path[prefix.Length..], out var userId) || request.Content is null)
        {
            return new HttpResponseMessage(System.Net.HttpStatusCode.NotFound) { RequestMessage = request };
        }

        // Read as bytes: a retry sends the same content again, and a consumed stream cannot be read twice.
        var call = JsonSerializer.Deserialize<UpdateAssetRequest>(
                       await request.Content.ReadAsByteArrayAsync(cancellationToken), JsonSerializerOptions.Web)
                   ?? new UpdateAssetRequest(null, null);
        var answer = extension.UpdateAsset(userId, call);
        return new HttpResponseMessage((System.Net.HttpStatusCode)answer.StatusCode)
        {
            Content = JsonContent.Create(answer.Body),
            RequestMessage = request,
        };
    }
}
