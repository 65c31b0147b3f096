using System.Net;
using DontGoBack.CoreServer.AdminConsole;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// Guards everything under /internal: first the caller's address (403), then the admin token
/// (401), sent in the header or, from the console's sign-in, as its cookie. Middleware rather than
/// an endpoint filter, so a refused caller learns nothing else, not even that its request body was
/// malformed.
/// </summary>
public sealed class InternalAccessMiddleware(RequestDelegate next, IOptions<InternalAccessOptions> options, AdminSession session)
{
    public const string AdminTokenHeader = "X-Admin-Token";

    /// <summary>The name the audit trail gives the configured admin token.</summary>
    public const string AdminTokenName = "admin";

    private readonly IPNetwork[] _allowed =
        options.Value.EffectiveNetworks.Select(n => InternalAccessOptions.ParseNetwork(n)!.Value).ToArray();

    public Task InvokeAsync(HttpContext http)
    {
        var address = http.Connection.RemoteIpAddress;
        if (address is null || !IsAllowed(address))
        {
            return Results.Problem(
                statusCode: StatusCodes.Status403Forbidden, title: "Address not allowed",
                detail: $"{address?.ToString() ?? "An unknown address"} may not call internal endpoints.").ExecuteAsync(http);
        }

        if (options.Value.AdminToken is not { Length: > 0 })
            return next(http);
        if (session.IsAdminToken(http.Request.Headers[AdminTokenHeader]) || session.IsSignedIn(http.Request))
        {
            // Who acted, for the audit trail: the one configured token is named "admin", by header or by its console session.
            http.Items[Batch.Common.Operator.TokenNameItem] = AdminTokenName;
            return next(http);
        }
        if (ConsolePaths.IsOpenWithoutToken(http.Request.Path))
            return next(http);

        // A person opening a console page is sent to sign in; anything else (an action, the API) is refused.
        if (HttpMethods.IsGet(http.Request.Method) && http.Request.Path.StartsWithSegments(ConsolePaths.Root)
            && http.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
        {
            http.Response.Redirect(ConsolePaths.SignInFor(http.Request));
            return Task.CompletedTask;
        }
        return Results.Problem(
            statusCode: StatusCodes.Status401Unauthorized, title: "Admin token required",
            detail: $"Send the configured admin token in the {AdminTokenHeader} header, or sign in at {ConsolePaths.SignIn}.").ExecuteAsync(http);
    }

    private bool IsAllowed(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        return _allowed.Any(network => network.Contains(address));
    }
}
