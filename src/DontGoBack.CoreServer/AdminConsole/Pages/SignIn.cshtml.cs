using DontGoBack.CoreServer.Hosting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.AdminConsole.Pages;

/// <summary>Exchanges the admin token for the console's cookie; reachable without either (the address check still applies).</summary>
/// <remarks>The internal guard refuses the post of an address past its failed attempts (429) before it gets here.</remarks>
public sealed class SignInModel(AdminSession session, FailedAuthenticationThrottle throttle, IOptions<InternalAccessOptions> options) : PageModel
{
    public string ReturnUrl { get; private set; } = ConsolePaths.Root;

    public bool Refused { get; private set; }

    public string LifetimeText => $"{options.Value.ConsoleSessionLifetime.TotalHours:0.#} hours";

    public IActionResult OnGet(string? returnUrl)
    {
        ReturnUrl = ConsolePaths.SafeReturn(returnUrl);
        // Without a token there is nothing to sign in with: the address check alone guards the console.
        return options.Value.AdminToken is { Length: > 0 } ? Page() : LocalRedirect(ReturnUrl);
    }

    public async Task<IActionResult> OnPostAsync(string? token, string? returnUrl, CancellationToken cancellationToken)
    {
        ReturnUrl = ConsolePaths.SafeReturn(returnUrl);
        // The internal guard charged this attempt as a failure before it got here; a right token is forgiven.
        if (!session.IsAdminToken(token))
        {
            Refused = true;
            Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Page();
        }
        throttle.Forgive(HttpContext.Connection.RemoteIpAddress);
        await session.SignInAsync(HttpContext, cancellationToken);
        return LocalRedirect(ReturnUrl);
    }

    /// <summary>Ends the session on the server too: a copy of the cookie stops working on every replica.</summary>
    public async Task<IActionResult> OnPostSignOutAsync(CancellationToken cancellationToken)
    {
        await session.SignOutAsync(HttpContext, cancellationToken);
        return LocalRedirect(ConsolePaths.SignIn);
    }
}
