using Scalar.AspNetCore;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// Headers every response under /internal carries, the console's pages, redirects, errors and
/// static files alike: no page of it may be framed (a framed run page would let another page click
/// "Retry failed users"), scripts and styles come only from the console's own files, and a response
/// is never read as another content type than it says.
/// </summary>
public static class SecurityHeaders
{
    /// <summary>
    /// Fits the console: its scripts and stylesheet are files under its own path (no inline code),
    /// the charts draw on canvases, live progress is an EventSource of the same origin, and its forms
    /// post to itself.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
        + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>
    /// The API reference's page (<see cref="ApiDescription.ReferencePath"/>) differs in two ways only:
    /// it starts from an inline module script, allowed by the nonce Scalar draws for each response
    /// (no other inline script runs), and Scalar writes its stylesheet inline and sets style attributes
    /// as it draws, which a stylesheet-only policy blocks (styles cannot run code). Everything is still
    /// loaded from this server, and framing is still forbidden.
    /// </summary>
    public static string ApiReferencePolicy(string nonce) =>
        $"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
        + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>Set as the headers go out, so an error page written after a handler cleared the response carries them too.</summary>
    public static Task AddAsync(HttpContext http, RequestDelegate next)
    {
        http.Response.OnStarting(static state =>
        {
            var http = (HttpContext)state;
            var headers = http.Response.Headers;
            headers.ContentSecurityPolicy = http.Items[ScalarOptions.NonceHttpContextItemKey] is string nonce
                && http.Request.Path.StartsWithSegments(ApiDescription.ReferencePath)
                    ? ApiReferencePolicy(nonce)
                    : ContentSecurityPolicy;
            // For browsers older than frame-ancestors; overrides antiforgery's SAMEORIGIN.
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "same-origin";
            return Task.CompletedTask;
        }, http);
        return next(http);
    }
}
