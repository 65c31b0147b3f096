using System.CommandLine;
using System.CommandLine.Help;
using System.Reflection;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.Logging.Console;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// The command line: the declared commands, read once before the host is built (<see cref="Read"/>),
/// so help, the version and mistakes are answered without touching configuration or the database,
/// and once more after, with every check, by <see cref="CommandRunner"/>.
/// </summary>
public static class CoreCommandLine
{
    /// <summary>Exit code of bad input, an unknown command or option, and a configuration error.</summary>
    public const int UsageError = 2;

    /// <summary>Exit code of a run the database or a server stopped, and of a server whose database cannot be prepared.</summary>
    public const int RunFailed = 1;

    /// <summary>
    /// The daily jobs, as help names them: every job class of this server (<see cref="JobsDeclaredIn"/>), so a new batch's
    /// folder needs no line here. Help is answered before the host is built, so it cannot ask the registered
    /// <see cref="BatchJobs"/>; a test holds these to them. Declared before <see cref="Commands"/>, whose declaration reads it.
    /// </summary>
    public static IReadOnlyList<DailyJobDefinition> Jobs { get; } = JobsDeclaredIn(typeof(CoreCommandLine).Assembly);

    /// <summary>
    /// The job the command line means when it names none: `refresh` is `run --job` it, and `runs`, `retry-failed` and `backfill`
    /// without `--job` are of it, as they were before the commands took any job. The one place the CLI names the asset refresh.
    /// </summary>
    public static DailyJobDefinition DefaultJob => AssetRefreshJob.Definition;

    /// <summary>The name of the static member through which a job class states its definition.</summary>
    public const string DefinitionMember = "Definition";

    /// <summary>
    /// The definitions of the job classes declared in <paramref name="assembly"/>: each concrete <see cref="IDailyJob"/>
    /// with a public static <see cref="DailyJobDefinition"/> named <see cref="DefinitionMember"/>, the default job first and the
    /// rest by name, so help reads the same whatever order the batches are registered in.
    /// </summary>
    public static IReadOnlyList<DailyJobDefinition> JobsDeclaredIn(Assembly assembly) =>
        assembly.GetTypes()
            .Where(type => type is { IsClass: true, IsAbstract: false } && typeof(IDailyJob).IsAssignableFrom(type))
            .Select(DefinitionOf)
            .OfType<DailyJobDefinition>()
            .OrderBy(job => job.Name != DefaultJob.Name)
            .ThenBy(job => job.Name, StringComparer.Ordinal)
            .ToList();

    private static DailyJobDefinition? DefinitionOf(Type job) =>
        (job.GetField(DefinitionMember, BindingFlags.Public | BindingFlags.Static)?.GetValue(null)
            ?? job.GetProperty(DefinitionMember, BindingFlags.Public | BindingFlags.Static)?.GetValue(null)) as DailyJobDefinition;

    /// <summary>Every command there is; help, parsing and DI registration all come from this list.</summary>
    public static IReadOnlyList<DeclaredCommand> Commands { get; } =
    [
        DeclaredCommand.Of<RefreshCommand>(),
        DeclaredCommand.Of<SeedCommand>(),
        DeclaredCommand.Of<BackfillCommand>(),
        DeclaredCommand.Of<RunsCommand>(),
        DeclaredCommand.Of<RunCommand>(),
        DeclaredCommand.Of<RetryFailedCommand>(),
        DeclaredCommand.Of<VerifyCommand>(),
        DeclaredCommand.Of<MigrateHistoryCommand>(),
    ];

    /// <summary>`--json`: standard output holds the result alone, one JSON document; what people read goes to standard error.</summary>
    public static Option<bool> JsonOption() =>
        new("--json") { Description = "Print only the result, as one JSON document, on standard output (the rest goes to standard error)" };

    /// <summary>`--quiet`: nothing but the result (no progress, no log below warnings).</summary>
    public static Option<bool> QuietOption() =>
        new("--quiet", "-q") { Description = "Show nothing but the result: no progress bar or lines, no log below warnings" };

    public static RootCommand Declare(CommandChecks? checks)
    {
        var root = new RootCommand(
            "DontGoBack core server. Without a command it serves HTTP; it then accepts only host and configuration " +
            "switches such as --urls http://127.0.0.1:5070, --environment Staging or --AssetRefresh:Enabled=false. " +
            $"The daily jobs a command's --job names: one of {string.Join(", ", Jobs.Select(j => j.Name))}.");
        foreach (var command in Commands)
            root.Subcommands.Add(command.Declare(checks));
        return root;
    }

    /// <summary>
    /// Decides what the arguments ask for: the server (no arguments, or only host and configuration
    /// switches), a command, or something answered at once — help and the version (exit 0), an
    /// unknown command or option or a malformed value (a message on standard error, exit 2).
    /// </summary>
    public static CommandLineRequest Read(string[] args)
    {
        var mistake = ServerArguments.FirstMistake(args);
        if (mistake is null)
            return CommandLineRequest.Server;

        // `help` and `help refresh` mean `--help` and `refresh --help`.
        if (args[0] == "help")
            args = [.. args[1..], "--help"];
        var root = Declare(checks: null);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
            return CommandLineRequest.Answered(ReportMistakes(root, parsed, mistake));
        if (parsed.Action is HelpAction || parsed.CommandResult.Command == root)
            return CommandLineRequest.Answered(parsed.Invoke());
        return CommandLineRequest.Command(args, quiet: parsed.GetResult(QuietOption().Name) is System.CommandLine.Parsing.OptionResult { Implicit: false });
    }

    /// <param name="mistake">The first argument that made the command line something other than server switches.</param>
    private static int ReportMistakes(RootCommand root, ParseResult parsed, string mistake)
    {
        if (parsed.CommandResult.Command == root)
        {
            Console.Error.WriteLine(mistake.StartsWith('-')
                ? $"unknown option '{mistake}'; the server takes only switches with a value, such as --urls http://127.0.0.1:5070; see --help"
                : NearestCommand(mistake) is { } nearest
                    ? $"unknown command '{mistake}'; did you mean '{nearest}'? see --help"
                    : $"unknown command '{mistake}'; see --help");
            return UsageError;
        }
        foreach (var error in parsed.Errors)
            Console.Error.WriteLine(error.Message);
        Console.Error.WriteLine($"See '{parsed.CommandResult.Command.Name} --help'.");
        return UsageError;
    }

    /// <summary>The command a typo most likely meant: the closest within two edits, else the first the word begins; null when none is near.</summary>
    internal static string? NearestCommand(string word)
    {
        var names = Commands.Select(c => c.Name).Append("help").ToList();
        var closest = names.Select(name => (name, distance: EditDistance(word, name))).Where(n => n.distance <= 2).OrderBy(n => n.distance).FirstOrDefault();
        return closest.name ?? names.FirstOrDefault(name => name.StartsWith(word, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Levenshtein distance, case-insensitive: the insertions, deletions and substitutions that turn one word into the other.</summary>
    private static int EditDistance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + substitution);
            }
            previous = current;
        }
        return previous[b.Length];
    }

    /// <summary>The commands, their checks and the runner; only a command line that names a command resolves them.</summary>
    public static IHostApplicationBuilder AddCoreCommands(this IHostApplicationBuilder builder, CommandLineRequest request)
    {
        // Before the host is built: the console logger keeps the standard error it finds when it is created.
        builder.Services.AddSingleton(new CommandConsole(request.Quiet, request.IsCommand && !request.Quiet ? TerminalOutput.Install() : null));
        if (request.Quiet)
            QuietConsoleLog(builder);
        builder.Services.AddSingleton<CommandProgress>();
        builder.Services.AddOptions<LoadTestOptions>().BindConfiguration(LoadTestOptions.SectionName).ValidateOnStart();
        builder.Services.AddSingleton<CommandChecks>();
        builder.Services.AddSingleton<TerminationSignals>();
        builder.Services.AddSingleton<CommandRunner>();
        builder.Services.AddTransient<JobDayRun>();
        foreach (var command in Commands)
            builder.Services.AddKeyedTransient(typeof(ICoreCommand), command.Name, command.Runner);
        return builder;
    }

    /// <summary>
    /// `--quiet`: the console log shows warnings and errors only. Each configured level is raised to
    /// Warning for the console, never lowered, so a stricter setting stays as strict.
    /// </summary>
    private static void QuietConsoleLog(IHostApplicationBuilder builder)
    {
        builder.Logging.AddFilter<ConsoleLoggerProvider>(null, LogLevel.Warning);
        foreach (var setting in builder.Configuration.GetSection("Logging:LogLevel").GetChildren())
        {
            if (Enum.TryParse<LogLevel>(setting.Value, ignoreCase: true, out var level))
                builder.Logging.AddFilter<ConsoleLoggerProvider>(setting.Key == "Default" ? null : setting.Key, level > LogLevel.Warning ? level : LogLevel.Warning);
        }
    }
}

/// <summary>Runs the command the arguments name, on the built host's services, after reading them again with every check.</summary>
public sealed class CommandRunner(IServiceScopeFactory scopes, TerminationSignals signals)
{
    public async Task<int> RunAsync(string[] args)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            // Every section's settings first, each failing one on its line (exit 2), before the checks read the calendar's.
            scope.ServiceProvider.GetRequiredService<CoreServerStartup>().CheckSettings();
            var root = CoreCommandLine.Declare(scope.ServiceProvider.GetRequiredService<CommandChecks>());
            foreach (var command in root.Subcommands)
            {
                var name = command.Name;
                command.SetAction((parsed, cancellationToken) =>
                    scope.ServiceProvider.GetRequiredKeyedService<ICoreCommand>(name).RunAsync(parsed, cancellationToken));
            }
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                // Values the settings rule out (an unknown job, a day outside the calendar's range): the message alone, as ever.
                foreach (var error in parsed.Errors)
                    await Console.Error.WriteLineAsync(error.Message);
                return CoreCommandLine.UsageError;
            }
            return await InvokeAsync(parsed);
        }
        finally
        {
            // From here a signal gets the default again: it ends the process.
            signals.Dispose();
        }
    }

    private async Task<int> InvokeAsync(ParseResult parsed)
    {
        try
        {
            // The signals are ours, so the exit code can say which one stopped the command.
            return await parsed.InvokeAsync(
                new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, signals.Token);
        }
        catch (OperationCanceledException) when (signals.ExitCode is { } exitCode)
        {
            await Console.Error.WriteLineAsync($"Stopped by {signals.Received} before the command was through.");
            return exitCode;
        }
        catch (Exception e) when (CoreServerStartup.DatabaseFailure(e) is { } failure)
        {
            // The database failed the command (read-only, full, away): what it answered, in one line, as a run it stopped exits.
            await Console.Error.WriteLineAsync($"{parsed.CommandResult.Command.Name} failed: {failure}");
            return CoreCommandLine.RunFailed;
        }
        catch (Exception e) when (ConfigurationErrors.Describe(e).Count == 0)
        {
            // A configuration error goes on to be reported in one line per setting (exit 2); anything else failed the command.
            await Console.Error.WriteLineAsync($"{parsed.CommandResult.Command.Name} failed: {e}");
            return 1;
        }
    }
}

/// <summary>What the command line asks for, decided before the host is built.</summary>
public sealed class CommandLineRequest
{
    private readonly string[]? _command;

    private CommandLineRequest(int? exitCode, string[]? command, bool quiet = false) => (ExitCode, _command, Quiet) = (exitCode, command, quiet);

    public static CommandLineRequest Server { get; } = new(null, null);

    /// <summary>Help, the version or a mistake, already printed; nothing else is to be done.</summary>
    public static CommandLineRequest Answered(int exitCode) => new(exitCode, null);

    /// <param name="args">The arguments as the command line reads them (`help x` already turned into `x --help`).</param>
    /// <param name="quiet">The command was given `--quiet`.</param>
    public static CommandLineRequest Command(string[] args, bool quiet = false) => new(null, args, quiet);

    /// <summary>Set when the request was answered already, without building anything.</summary>
    public int? ExitCode { get; }

    public bool IsCommand => _command is not null;

    /// <summary>A command given `--quiet`: nothing but its result is to be shown.</summary>
    public bool Quiet { get; }

    /// <param name="services">The built host's services.</param>
    public Task<int> RunAsync(IServiceProvider services) =>
        _command is { } args
            ? services.GetRequiredService<CommandRunner>().RunAsync(args)
            : throw new InvalidOperationException("Not a command.");
}
