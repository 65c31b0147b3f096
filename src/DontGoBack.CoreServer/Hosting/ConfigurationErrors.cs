using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// Tells a configuration error from any other failure and says what is wrong in one line per
/// setting, for Program.cs to print instead of a stack trace, in server and CLI mode alike.
/// </summary>
public static partial class ConfigurationErrors
{
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
