using System.Net;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// Refuses (403) a state-changing request under /internal that a browser sent on behalf of another
/// origin: a plain form or a no-cors fetch needs no preflight, and the manual trigger takes no body,
/// so without this any page (or, once signed in, any page of the same site, which carries the
/// SameSite=Strict cookie) could start a run. Fetch Metadata first (Sec-Fetch-Site: only
/// <c>same-origin</c> or <c>none</c>, a person's own navigation), then the Origin header, which must
/// name this server's own scheme, host and port. A client that sends neither (curl, the CLI, a
/// scheduler) is no browser acting for a page, and passes. Whatever the content type, in this one place.
/// Before all that, any request (reads too) must name this server by an address, <c>localhost</c> or one
/// of <see cref="InternalAccessOptions.Hosts"/>: a page whose own name is made to resolve to this server
/// (DNS rebinding) is same-origin to the browser, and only its Host header gives it away.
/// </summary>
public sealed partial class CrossOriginGuard(RequestDelegate next, IOptions<InternalAccessOptions> options, ILogger<CrossOriginGuard> logger)
{
    public const string FetchSiteHeader = "Sec-Fetch-Site";

    public Task InvokeAsync(HttpContext http)
    {
        if (HostRefusalReason(http.Request, options.Value.Hosts) is { } hostReason)
        {
            LogUnknownHost(logger, http.Request.Method, http.Request.Path, http.Connection.RemoteIpAddress?.ToString() ?? "an unknown address", hostReason);
            return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Unknown host name",
                detail: $"{hostReason} Reach internal endpoints by the server's address, localhost, or a name listed in InternalAccess:Hosts.")
                .ExecuteAsync(http);
        }
        if (RefusalReason(http.Request) is not { } reason)
            return next(http);
        LogRefused(logger, http.Request.Method, http.Request.Path, http.Connection.RemoteIpAddress?.ToString() ?? "an unknown address", reason);
        return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Cross-origin request refused",
            detail: $"{reason} Internal endpoints take state-changing requests only from their own origin (or from clients that are not browsers).")
            .ExecuteAsync(http);
    }

    /// <summary>Why the request must be refused, or null when it may go on. GET, HEAD and OPTIONS change nothing and always pass.</summary>
    public static string? RefusalReason(HttpRequest request)
    {
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method))
            return null;

        var fetchSite = request.Headers[FetchSiteHeader];
        if (fetchSite.Count > 1)
            return $"The request carries {fetchSite.Count} {FetchSiteHeader} headers.";
        if (fetchSite.Count == 1 && fetchSite[0] is not ("same-origin" or "none"))
            return $"The browser sent it from another {(fetchSite[0] == "same-site" ? "origin of the same site" : "site")} ({FetchSiteHeader}: {Shorten(fetchSite[0])}).";

        var origin = request.Headers.Origin;
        if (origin.Count > 1)
            return $"The request carries {origin.Count} Origin headers.";
        if (origin.Count == 1)
        {
            // "null": a sandboxed frame, a data: page or a redirect across origins, whose origin is hidden.
            if (!Uri.TryCreate(origin[0], UriKind.Absolute, out var from) || from.Scheme is not ("http" or "https"))
                return $"Its Origin ({Shorten(origin[0])}) is not this server's.";
            if (!Uri.TryCreate($"{request.Scheme}://{request.Host.Value}", UriKind.Absolute, out var own)
                || Uri.Compare(from, own, SchemeHostPort, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) != 0)
                return $"Its Origin ({Shorten(origin[0])}) is not this server's ({request.Scheme}://{request.Host.Value}).";
        }
        return null;
    }

    /// <summary>Why the request's Host must be refused, or null when it is an IP address, localhost or a listed name.</summary>
    public static string? HostRefusalReason(HttpRequest request, IReadOnlyCollection<string> names)
    {
        var host = request.Host.Host;
        // Kestrel refuses a request without a Host (HTTP/1.1 400); HTTP/1.0 may omit it, and names nothing then.
        if (string.IsNullOrEmpty(host) || IPAddress.TryParse(host.Trim('[', ']'), out _)
            || string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || names.Contains(host, StringComparer.OrdinalIgnoreCase))
            return null;
        return $"It names the server {Shorten(host)}, which is not one of its names.";
    }

    private const UriComponents SchemeHostPort = UriComponents.Scheme | UriComponents.Host | UriComponents.StrongPort;

    /// <summary>Header values are the caller's: echoed and logged bounded.</summary>
    private static string Shorten(string? value) =>
        value is null ? "" : value.Length <= 100 ? value : value[..100] + "…";

    [LoggerMessage(LogLevel.Warning, "Request for an unknown host name refused: {Method} {Path} from {Address}: {Reason}")]
    private static partial void LogUnknownHost(ILogger logger, string method, string path, string address, string reason);

    [LoggerMessage(LogLevel.Warning, "Cross-origin request refused: {Method} {Path} from {Address}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string method, string path, string address, string reason);
}
