using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// Tells a configuration error from any other failure and says what is wrong in one line per
/// setting, printed instead of a stack trace, in server and CLI mode alike.
/// </summary>
public static partial class ConfigurationErrors
{
    private static int _registered;

    /// <summary>
    /// Reports a configuration error that escapes Main, or any thread, as one line per setting on
    /// standard error and ends the process with exit code 2, before the runtime would print the
    /// exception with its stack trace. Other exceptions are left to the runtime. Under a test host
    /// (WebApplicationFactory) exceptions from Main reach the test, so this never fires there.
    /// </summary>
    public static void ExitWithOneLinePerSetting()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1)
            return;
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            if (e.ExceptionObject is not Exception exception || Describe(exception) is not { Count: > 0 } settings)
                return;
            foreach (var setting in settings)
                Console.Error.WriteLine($"Configuration error: {setting}");
            Environment.Exit(Cli.CoreCommandLine.UsageError);
        };
    }

    /// <summary>One line per failing setting; empty when the exception is not a configuration error.</summary>
    public static IReadOnlyList<string> Describe(Exception exception) => exception switch
    {
        // Options validated on start: several sections can fail at once.
        AggregateException aggregate when aggregate.InnerExceptions.All(e => Describe(e).Count > 0) =>
            aggregate.InnerExceptions.SelectMany(Describe).ToList(),
        OptionsValidationException validation => validation.Failures.Select(Plain).ToList(),
        // A value the binder cannot convert, e.g. Database:Provider=Oracle: its message names the setting and the type.
        InvalidOperationException binding when binding.TargetSite?.DeclaringType == typeof(ConfigurationBinder) =>
            [binding.InnerException is null ? binding.Message : $"{binding.Message} {binding.InnerException.Message}"],
        _ => [],
    };

    /// <summary>
    /// Our validation messages name the setting (AssetRefresh:Cron 'x' is not …); the data-annotations
    /// wrapper around them only repeats the class and member, so it is dropped unless the message lacks the member.
    /// </summary>
    private static string Plain(string failure)
    {
        var wrapped = DataAnnotationFailure().Match(failure);
        if (!wrapped.Success)
            return failure;
        var (members, message) = (wrapped.Groups["members"].Value, wrapped.Groups["message"].Value);
        return message.Contains(members, StringComparison.Ordinal) ? message : $"{members}: {message}";
    }

    [GeneratedRegex("^DataAnnotation validation failed for '[^']*' members: '(?<members>[^']*)' with the error: '(?<message>.*)'\\.$", RegexOptions.Singleline)]
    private static partial Regex DataAnnotationFailure();
}
