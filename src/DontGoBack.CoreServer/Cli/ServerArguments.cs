namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// The arguments the server accepts: host and configuration switches only, `--Key=Value` or
/// `--Key Value` (e.g. `--urls http://0.0.0.0:5070`, `--environment Staging`,
/// `--AssetRefresh:Enabled=false`), forms ASP.NET Core's command-line configuration reads.
/// Anything else (a bare word, a switch without a value) is a mistake, not a reason to start the server.
/// </summary>
public static class ServerArguments
{
    /// <summary>Words that ask for help or the version; never read as a switch or its value.</summary>
    private static readonly HashSet<string> HelpOrVersion = ["--help", "-h", "-?", "/h", "/?", "--version", "help"];

    /// <summary>The first argument that is not part of a configuration switch; null when all are, so the server should start.</summary>
    public static string? FirstMistake(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var token = args[i];
            if (HelpOrVersion.Contains(token) || !token.StartsWith("--", StringComparison.Ordinal))
                return token;
            var separator = token.IndexOf('=', StringComparison.Ordinal);
            if (!IsKey(separator < 0 ? token[2..] : token[2..separator]))
                return token;
            if (separator >= 0)
                continue;
            // `--Key Value`: the value is the next argument, which must not itself be a switch or a help word.
            if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal) || HelpOrVersion.Contains(args[i + 1]))
                return token;
            i++;
        }
        return null;
    }

    /// <summary>A configuration key: letters, digits and `:` `_` `.` `-`, starting with a letter (so `--` alone or `---x` is not one).</summary>
    private static bool IsKey(string key) =>
        key.Length > 0 && char.IsAsciiLetter(key[0]) && key.All(c => char.IsAsciiLetterOrDigit(c) || c is ':' or '_' or '.' or '-');
}
