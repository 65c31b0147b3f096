using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace DontGoBack.CoreServer.AdminConsole;

/// <summary>
/// The console's own 404 page for whatever under it is not there: an address no page has, a run, user or
/// job that does not exist. It is a page of the console like the others (its layout, and the security
/// headers and sign-in of everything under /internal), not the API's problem document.
/// </summary>
public static class ConsoleNotFound
{
    /// <summary>The page that says so (Pages/NotFound.cshtml).</summary>
    public const string Page = "/NotFound";

    private const string DetailItem = "DontGoBack.ConsoleNotFound.Detail";

    /// <summary>
    /// Which 404s get the page: those of the console's pages, whose callers passed the sign-in. The sign-in page and
    /// the stylesheet and scripts are open without it (<see cref="ConsolePaths.IsOpenWithoutToken"/>): theirs stay problems.
    /// </summary>
    public static bool IsShownFor(PathString path) => path.StartsWithSegments(ConsolePaths.Root) && !ConsolePaths.IsOpenWithoutToken(path);

    /// <summary>A 404 from a page that knows what was missing (<paramref name="detail"/>, e.g. "There is no run 12."): the 404 page says it.</summary>
    public static NotFoundResult NotFoundPage(this PageModel page, string detail)
    {
        page.HttpContext.Items[DetailItem] = detail;
        return page.NotFound();
    }

    /// <summary>What was missing, as the page that answered 404 said it; else the address itself.</summary>
    public static string DetailOf(HttpContext http) =>
        http.Items[DetailItem] as string ?? $"There is nothing at {http.Features.Get<IStatusCodeReExecuteFeature>()?.OriginalPath ?? http.Request.Path}.";

    /// <summary>
    /// A status-code-pages handler: an empty 404 under the console is answered by the 404 page, whatever the method.
    /// The page's endpoint is invoked directly, the request keeping its address: routing ran at the start of the
    /// pipeline, so re-executing it with the page's path from here (UseStatusCodePagesWithReExecute in a branch)
    /// would find no endpoint.
    /// </summary>
    public static async Task ShowAsync(StatusCodeContext context)
    {
        var http = context.HttpContext;
        if (http.Response.StatusCode != StatusCodes.Status404NotFound)
            return;
        var page = http.RequestServices.GetRequiredService<EndpointDataSource>().Endpoints
            .FirstOrDefault(e => e.Metadata.GetMetadata<PageActionDescriptor>()?.ViewEnginePath == Page);
        if (page?.RequestDelegate is not { } show)
            return;
        http.Features.Set<IStatusCodeReExecuteFeature>(new StatusCodeReExecuteFeature
        {
            OriginalPathBase = http.Request.PathBase.Value ?? "", OriginalPath = http.Request.Path.Value ?? "",
            OriginalQueryString = http.Request.QueryString.HasValue ? http.Request.QueryString.Value : null,
            Endpoint = http.GetEndpoint(), RouteValues = http.Request.RouteValues,
        });
        http.SetEndpoint(page);
        http.Request.RouteValues = new RouteValueDictionary { ["page"] = Page };
        await show(http);
    }
}
