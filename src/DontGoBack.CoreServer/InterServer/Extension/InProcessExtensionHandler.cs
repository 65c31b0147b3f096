using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DontGoBack.MarketSimulation;

namespace DontGoBack.CoreServer.InterServer.Extension;

/// <summary>
/// The embedded default: answers update-asset(s) calls in process with the stand-in's rule, so
/// the whole client path (serialisation, validation, resilience) runs without a second server.
/// </summary>
public sealed class InProcessExtensionHandler(SimulatedExtension extension) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri?.AbsolutePath.TrimStart('/') ?? "";
        if (request.Method != HttpMethod.Post || request.Content is null)
            return Answer(request, HttpStatusCode.NotFound, null);
        // Read as bytes: a retry sends the same content again, and a consumed stream cannot be read twice.
        var body = await request.Content.ReadAsByteArrayAsync(cancellationToken);

        if (path == ExtensionClient.UpdateAssetsPath)
        {
            var bulk = extension.UpdateAssets(
                JsonSerializer.Deserialize<UpdateAssetsRequest>(body, JsonSerializerOptions.Web) ?? new UpdateAssetsRequest(null, null));
            return Answer(request, (HttpStatusCode)bulk.StatusCode, JsonContent.Create(bulk.Body));
        }

        var prefix = ExtensionClient.UpdateAssetPath + "/";
        if (!path.StartsWith(prefix, StringComparison.Ordinal) || !long.TryParse(path[prefix.Length..], out var userId))
            return Answer(request, HttpStatusCode.NotFound, null);
        var single = extension.UpdateAsset(
            userId, JsonSerializer.Deserialize<UpdateAssetRequest>(body, JsonSerializerOptions.Web) ?? new UpdateAssetRequest(null, null));
        return Answer(request, (HttpStatusCode)single.StatusCode, JsonContent.Create(single.Body));
    }

    private static HttpResponseMessage Answer(HttpRequestMessage request, HttpStatusCode status, HttpContent? content) =>
        new(status) { Content = content, RequestMessage = request };
}
