using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// The console's sign-in: a browser cannot send the X-Admin-Token header on a link or a form, so
/// the sign-in page exchanges the token for a data-protected, HttpOnly, SameSite=Strict cookie
/// that the internal guard accepts instead of the header.
/// </summary>
/// <remarks>
/// The cookie holds its expiry and a hash of the token it was issued for, never the token: a
/// changed token signs everyone out, and a stolen cookie does not reveal the token. Its keys are
/// ASP.NET Core data protection's, so with several replicas a cookie is valid only on the node that
/// issued it unless the replicas share a key ring.
/// </remarks>
public sealed class AdminSession(IDataProtectionProvider protection, IOptions<InternalAccessOptions> options, TimeProvider time)
{
    public const string CookieName = "dgb_console";

    private readonly IDataProtector _protector = protection.CreateProtector("DontGoBack.Console.AdminSession.v1");

    /// <summary>Whether <paramref name="given"/> is the configured admin token (compared in constant time).</summary>
    public bool IsAdminToken(string? given) =>
        options.Value.AdminToken is { Length: > 0 } expected && given is not null
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(expected));

    public void SignIn(HttpContext http)
    {
        var expires = time.GetUtcNow() + options.Value.ConsoleSessionLifetime;
        var payload = $"{expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}|{TokenHash()}";
        http.Response.Cookies.Append(CookieName, _protector.Protect(payload), new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = http.Request.IsHttps,
            Path = InternalAccessExtensions.PathPrefix,
            // A browser-session cookie: the expiry inside it is checked on the server's own clock, not the browser's.
            IsEssential = true,
        });
    }

    public static void SignOut(HttpContext http) =>
        http.Response.Cookies.Delete(CookieName, new CookieOptions { Path = InternalAccessExtensions.PathPrefix });

    /// <summary>Whether the request carries a cookie this server issued for the current token that has not expired.</summary>
    public bool IsSignedIn(HttpRequest request)
    {
        if (options.Value.AdminToken is not { Length: > 0 } || request.Cookies[CookieName] is not { Length: > 0 and < 4096 } cookie)
            return false;
        string payload;
        try
        {
            payload = _protector.Unprotect(cookie);
        }
        catch (CryptographicException)
        {
            // Forged, from another key ring or from before a key rotation: not signed in.
            return false;
        }
        var parts = payload.Split('|');
        return parts.Length == 2
               && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var expires)
               && DateTimeOffset.FromUnixTimeSeconds(expires) > time.GetUtcNow()
               && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(parts[1]), Encoding.ASCII.GetBytes(TokenHash()));
    }

    private string TokenHash() =>
        Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.AdminToken ?? ""))[..16]);
}
