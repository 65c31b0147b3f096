using System.Globalization;
using System.Net;
using DontGoBack.CoreServer.AdminConsole;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// Guards everything under /internal: first the caller's address (403), then the admin token
/// (401), sent in the header or, from the console's sign-in, as its session cookie. An address that
/// sent too many wrong tokens is refused (429) before its token is looked at. Middleware rather than
/// an endpoint filter, so a refused caller learns nothing else, not even that its request body was
/// malformed.
/// </summary>
public sealed class InternalAccessMiddleware(
    RequestDelegate next, IOptions<InternalAccessOptions> options, FailedAuthenticationThrottle throttle)
{
    public const string AdminTokenHeader = "X-Admin-Token";

    /// <summary>The name the audit trail gives the configured admin token.</summary>
    public const string AdminTokenName = "admin";

    private readonly IPNetwork[] _allowed =
        options.Value.EffectiveNetworks.Select(n => InternalAccessOptions.ParseNetwork(n)!.Value).ToArray();

    public async Task InvokeAsync(HttpContext http, AdminSession session)
    {
        var address = http.Connection.RemoteIpAddress;
        if (address is null || !IsAllowed(address))
        {
            await Results.Problem(
                statusCode: StatusCodes.Status403Forbidden, title: "Address not allowed",
                detail: $"{address?.ToString() ?? "An unknown address"} may not call internal endpoints.").ExecuteAsync(http);
            return;
        }

        if (options.Value.AdminToken is not { Length: > 0 })
        {
            await next(http);
            return;
        }

        var header = http.Request.Headers[AdminTokenHeader];
        if (header.Count > 0 || IsSignInAttempt(http.Request))
        {
            // Charged before the token is checked (the sign-in page forgives a right one, as this does below).
            if (throttle.TryBeginAttempt(address) is { } wait)
            {
                await TooManyFailuresAsync(http, wait);
                return;
            }
            if (header.Count > 0)
            {
                if (session.IsAdminToken(header))
                {
                    throttle.Forgive(address);
                    await NextAsAdminAsync(http);
                    return;
                }
                await Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Wrong admin token",
                    detail: $"The {AdminTokenHeader} header is not the configured admin token.").ExecuteAsync(http);
                return;
            }
        }
        if (await session.IsSignedInAsync(http.Request, http.RequestAborted))
        {
            await NextAsAdminAsync(http);
            return;
        }
        if (ConsolePaths.IsOpenWithoutToken(http.Request.Path))
        {
            await next(http);
            return;
        }

        // A person opening a console page is sent to sign in; anything else (an action, the API) is refused.
        if (HttpMethods.IsGet(http.Request.Method) && http.Request.Path.StartsWithSegments(ConsolePaths.Root)
            && http.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
        {
            http.Response.Redirect(ConsolePaths.SignInFor(http.Request));
            return;
        }
        await Results.Problem(
            statusCode: StatusCodes.Status401Unauthorized, title: "Admin token required",
            detail: $"Send the configured admin token in the {AdminTokenHeader} header, or sign in at {ConsolePaths.SignIn}.").ExecuteAsync(http);
    }

    private Task NextAsAdminAsync(HttpContext http)
    {
        // Who acted, for the audit trail: the one configured token is named "admin", by header or by its console session.
        http.Items[DontGoBack.Batch.Operations.Operator.TokenNameItem] = AdminTokenName;
        return next(http);
    }

    /// <summary>
    /// Any post to the sign-in page but sign-out's: the page checks the token, this checks the address
    /// may still try. Sign-out is told by its one handler name, not by the presence of one: Razor runs
    /// the sign-in for an empty <c>?handler=</c> as for none, and that post must not skip the throttle.
    /// </summary>
    private static bool IsSignInAttempt(HttpRequest request) =>
        HttpMethods.IsPost(request.Method) && request.Path.StartsWithSegments(ConsolePaths.SignIn)
        && !(request.Query["handler"] is [var handler] && string.Equals(handler, SignOutHandler, StringComparison.OrdinalIgnoreCase));

    /// <summary>The sign-in page's handler that ends a session (SignInModel.OnPostSignOutAsync).</summary>
    private const string SignOutHandler = "SignOut";

    private static Task TooManyFailuresAsync(HttpContext http, TimeSpan wait)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many failed authentications",
            detail: $"This address sent too many wrong admin tokens; its next attempt is checked after {seconds} s.").ExecuteAsync(http);
    }

    private bool IsAllowed(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        return _allowed.Any(network => network.Contains(address));
    }
}
