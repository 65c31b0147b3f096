using System.CommandLine;
using System.CommandLine.Parsing;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// Option validation that survives a value which did not parse. It depends on System.CommandLine
/// alone, so the bench compiles this same file (it runs the core server as a process and cannot
/// reference it).
/// </summary>
internal static class OptionChecks
{
    /// <summary>
    /// Adds <paramref name="check"/> on the option's value once it parsed. System.CommandLine runs
    /// validators even when the value did not parse (`--users abc`), and reading it then throws: the
    /// check is skipped instead, and the parser's own error is what the operator sees, not an
    /// unhandled exception (dotnet/command-line-api#2645).
    /// </summary>
    public static Option<T> Check<T>(Option<T> option, Action<OptionResult, T> check)
    {
        option.Validators.Add(result =>
        {
            T value;
            try
            {
                value = result.GetValueOrDefault<T>()!;
            }
            catch (InvalidOperationException)
            {
                return;
            }
            check(result, value);
        });
        return option;
    }
}
