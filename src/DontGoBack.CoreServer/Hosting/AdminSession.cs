using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// The console's sign-in: a browser cannot send the X-Admin-Token header on a link or a form, so
/// the sign-in page exchanges the token for an HttpOnly, SameSite=Strict cookie that the internal
/// guard accepts instead of the header.
/// </summary>
/// <remarks>
/// The cookie is a random secret naming a <see cref="ConsoleSession"/> row; the session is valid
/// while its row exists, has not expired and was issued under the configured token. Sign-out deletes
/// the row, so a copied cookie dies with it on every replica; a changed token deletes the rows of
/// every other token as the server starts (<see cref="ConsoleSessionSweep"/>), so configuring an old
/// token again does not bring its cookies back.
/// </remarks>
public sealed class AdminSession(DontGoBackDbContext db, IOptions<InternalAccessOptions> options, TimeProvider time)
{
    public const string CookieName = "dgb_console";

    private const int SecretBytes = 32;

    /// <summary>A cookie longer than any secret this server issues is not looked up.</summary>
    private const int MaxCookieLength = 64;

    /// <summary>Whether <paramref name="given"/> is the configured admin token (compared in constant time).</summary>
    public bool IsAdminToken(string? given) =>
        options.Value.AdminToken is { Length: > 0 } expected && given is not null
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(expected));

    public async Task SignInAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var secret = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes));
        // Expired sessions go as new ones come: the table holds at most a lifetime's worth of sign-ins.
        var expired = await db.Set<ConsoleSession>().AsNoTracking().Select(s => new { s.Id, s.ExpiresAt }).ToListAsync(cancellationToken);
        var expiredIds = expired.Where(s => s.ExpiresAt <= now).Select(s => s.Id).ToList();
        if (expiredIds.Count > 0)
            await db.Set<ConsoleSession>().Where(s => expiredIds.Contains(s.Id)).ExecuteDeleteAsync(cancellationToken);

        db.Set<ConsoleSession>().Add(new ConsoleSession
        {
            Id = SessionId(secret),
            TokenFingerprint = TokenFingerprint(options.Value.AdminToken),
            IssuedAt = now,
            ExpiresAt = now + options.Value.ConsoleSessionLifetime,
            Address = http.Connection.RemoteIpAddress?.ToString() ?? "",
        });
        await db.SaveChangesAsync(cancellationToken);
        http.Response.Cookies.Append(CookieName, secret, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = http.Request.IsHttps,
            Path = InternalAccessExtensions.PathPrefix,
            // A browser-session cookie: the expiry is the row's, checked on the server's own clock, not the browser's.
            IsEssential = true,
        });
    }

    /// <summary>Ends the session the request carries, on every replica: a copy of its cookie is refused from now on.</summary>
    public async Task SignOutAsync(HttpContext http, CancellationToken cancellationToken)
    {
        if (CookieOf(http.Request) is { } secret)
        {
            var id = SessionId(secret);
            await db.Set<ConsoleSession>().Where(s => s.Id == id).ExecuteDeleteAsync(cancellationToken);
        }
        http.Response.Cookies.Delete(CookieName, new CookieOptions { Path = InternalAccessExtensions.PathPrefix });
    }

    /// <summary>Whether the request carries the cookie of a live session issued under the configured token.</summary>
    public async Task<bool> IsSignedInAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (options.Value.AdminToken is not { Length: > 0 } token || CookieOf(request) is not { } secret)
            return false;
        var id = SessionId(secret);
        var session = await db.Set<ConsoleSession>().AsNoTracking().Where(s => s.Id == id)
            .Select(s => new { s.TokenFingerprint, s.ExpiresAt }).SingleOrDefaultAsync(cancellationToken);
        // Not deleted here when issued under another token: during a rolling change of the token a
        // replica still on the old one would otherwise delete the sessions of the new one.
        return session is not null && session.ExpiresAt > time.GetUtcNow()
               && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(session.TokenFingerprint), Encoding.ASCII.GetBytes(TokenFingerprint(token)));
    }

    /// <summary>Deletes every session issued under a token other than the configured one (all of them when none is configured).</summary>
    public Task<int> ForgetOtherTokensSessionsAsync(CancellationToken cancellationToken)
    {
        var current = TokenFingerprint(options.Value.AdminToken);
        return db.Set<ConsoleSession>().Where(s => s.TokenFingerprint != current).ExecuteDeleteAsync(cancellationToken);
    }

    /// <summary>Names the token without revealing it: a keyed hash, so equal tokens agree and the table gives no token away.</summary>
    public static string TokenFingerprint(string? token) =>
        token is { Length: > 0 }
            ? Base64Url.EncodeToString(HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), "DontGoBack console session"u8))
            : "";

    private static string? CookieOf(HttpRequest request) =>
        request.Cookies[CookieName] is { Length: > 0 and <= MaxCookieLength } cookie ? cookie : null;

    private static string SessionId(string secret) => Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(secret)));
}

/// <summary>
/// As the server starts (after the database is migrated): sessions issued under any token but the
/// configured one are deleted, so a changed token signs everyone out for good.
/// </summary>
public sealed partial class ConsoleSessionSweep(IServiceScopeFactory scopes, ILogger<ConsoleSessionSweep> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        try
        {
            var forgotten = await scope.ServiceProvider.GetRequiredService<AdminSession>().ForgetOtherTokensSessionsAsync(cancellationToken);
            if (forgotten > 0)
                LogForgotten(logger, forgotten);
        }
        catch (Exception e) when (DontGoBack.Batch.Storage.DatabaseFaults.IsDatabaseFault(e))
        {
            // A database that refuses writes (read-only, full) still serves: those sessions stay refused
            // request by request (their token does not match); the next start that can write deletes them.
            LogNotForgotten(logger, DontGoBack.Batch.Storage.DatabaseFaults.Describe(e));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(LogLevel.Warning, "Console sign-in: sessions issued under another admin token could not be deleted ({Reason}); they are refused all the same")]
    private static partial void LogNotForgotten(ILogger logger, string reason);

    [LoggerMessage(LogLevel.Information, "Console sign-in: {Count} sessions issued under another admin token were ended")]
    private static partial void LogForgotten(ILogger logger, int count);
}
