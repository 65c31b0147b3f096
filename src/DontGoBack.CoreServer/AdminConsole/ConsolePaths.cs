namespace DontGoBack.CoreServer.AdminConsole;

/// <summary>Where the console's pages live: under /internal, so the internal guard covers them.</summary>
public static class ConsolePaths
{
    public const string Root = "/internal/console";
    public const string SignIn = Root + "/sign-in";
    public const string Assets = Root + "/assets";

    /// <summary>The sign-in page and the stylesheet and scripts it needs: the address check applies, the token cannot yet.</summary>
    public static bool IsOpenWithoutToken(PathString path) =>
        path.StartsWithSegments(SignIn) || path.StartsWithSegments(Assets);

    public static string SignInFor(HttpRequest request) =>
        $"{SignIn}?returnUrl={Uri.EscapeDataString(request.Path + request.QueryString)}";

    /// <summary>Only a page of the console: a sign-in link must not send anyone elsewhere.</summary>
    public static string SafeReturn(string? returnUrl) =>
        returnUrl is { Length: > 0 and <= 2000 } url && url.StartsWith(Root, StringComparison.Ordinal)
        && !url.Contains("//", StringComparison.Ordinal) && !url.Contains('\\', StringComparison.Ordinal)
            ? url
            : Root;

    public static string Run(long id) => $"{Root}/runs/{id}";

    public static string RunLive(long id) => $"{Root}/runs/{id}/live";

    public static string User(long id) => $"{Root}/users/{id}";
}
