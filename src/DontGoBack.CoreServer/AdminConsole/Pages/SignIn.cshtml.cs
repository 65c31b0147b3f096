using DontGoBack.CoreServer.Hosting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.AdminConsole.Pages;

/// <summary>Exchanges the admin token for the console's cookie; reachable without either (the address check still applies).</summary>
public sealed class SignInModel(AdminSession session, IOptions<InternalAccessOptions> options) : PageModel
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

    public IActionResult OnPost(string? token, string? returnUrl)
    {
        ReturnUrl = ConsolePaths.SafeReturn(returnUrl);
        if (!session.IsAdminToken(token))
        {
            Refused = true;
            Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Page();
        }
        session.SignIn(HttpContext);
        return LocalRedirect(ReturnUrl);
    }

    public IActionResult OnPostSignOut()
    {
        AdminSession.SignOut(HttpContext);
        return LocalRedirect(ConsolePaths.SignIn);
    }
}
