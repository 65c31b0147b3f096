using System.CommandLine;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// A one-shot command. Its shape (name, options, parsers, validators) is declared by
/// <see cref="IDeclaredCommand.Declare"/>; what it does runs on an instance resolved from DI once
/// the host is built and the arguments were read again with every check.
/// </summary>
public interface ICoreCommand
{
    Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken);
}

public interface IDeclaredCommand
{
    /// <param name="checks">
    /// Null while the arguments are read before the host is built: only checks that need no settings
    /// (formats, signs) apply, enough for help and mistakes. Then what values are checked against:
    /// the registered jobs, the calendar's days.
    /// </param>
    static abstract Command Declare(CommandChecks? checks);
}

/// <summary>One entry of the command list: how to declare the command and the class that runs it.</summary>
public sealed record DeclaredCommand(string Name, Func<CommandChecks?, Command> Declare, Type Runner)
{
    public static DeclaredCommand Of<TCommand>() where TCommand : class, ICoreCommand, IDeclaredCommand =>
        new(TCommand.Declare(null).Name, TCommand.Declare, typeof(TCommand));
}
