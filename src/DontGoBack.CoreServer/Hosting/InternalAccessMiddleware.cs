using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// Guards everything under /internal: first the caller's address (403), then the admin token
/// (401). Middleware rather than an endpoint filter, so a refused caller learns nothing else,
/// not even that its request body was malformed.
/// </summary>
public sealed class InternalAccessMiddleware(RequestDelegate next, IOptions<InternalAccessOptions> options)
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

        if (options.Value.AdminToken is { Length: > 0 } expected && !TokenMatches(http.Request.Headers[AdminTokenHeader], expected))
        {
            return Results.Problem(
                statusCode: StatusCodes.Status401Unauthorized, title: "Admin token required",
                detail: $"Send the configured admin token in the {AdminTokenHeader} header.").ExecuteAsync(http);
        }
        // Who acted, for the audit trail: the one configured token is named "admin".
        if (options.Value.AdminToken is { Length: > 0 })
            http.Items[Batch.Common.Operator.TokenNameItem] = AdminTokenName;
        return next(http);
    }

    private bool IsAllowed(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        return _allowed.Any(network => network.Contains(address));
    }

    private static bool TokenMatches(string? given, string expected) =>
        given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(expected));
}
