using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace DontGoBack.CoreServer.AdminConsole.Pages;

/// <summary>
/// The console's 404 page (<see cref="ConsoleNotFound"/>). It answers any method, as the request it stands in for
/// came: a post that found nothing already passed its own antiforgery check, and this page changes nothing.
/// </summary>
[IgnoreAntiforgeryToken]
public sealed class NotFoundModel : PageModel
{
    public string Detail => ConsoleNotFound.DetailOf(HttpContext);
}
