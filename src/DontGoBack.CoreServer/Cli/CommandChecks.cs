using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// What command arguments are checked against once the host is built: the registered jobs and the
/// calendar (the batch zone's today, Batch:EarliestDay), the load-test settings. Options are declared
/// through these helpers so the checks before and after the host is built are the same code, the later ones stricter.
/// </summary>
public sealed class CommandChecks(BatchJobs jobs, BatchCalendar calendar, IOptions<LoadTestOptions> loadTest)
{
    public BatchCalendar Calendar => calendar;

    public LoadTestOptions LoadTest => loadTest.Value;

    public BatchJobs Jobs => jobs;

    /// <summary>
    /// A `--job` option: one of the registered jobs' names (<paramref name="runNames"/>: or a name runs are recorded under), checked by
    /// the registry, whose refusal is the one line an unknown name gets. Left out, it is <see cref="CoreCommandLine.DefaultJob"/>
    /// unless <paramref name="required"/>.
    /// </summary>
    public static Option<string> JobOption(CommandChecks? checks, bool runNames, string description, bool required = false)
    {
        // Help lists the jobs from the declared list: it is answered before the host (and its registered jobs) exists.
        var names = runNames ? CoreCommandLine.Jobs.SelectMany(j => j.RunNames) : CoreCommandLine.Jobs.Select(j => j.Name);
        var option = new Option<string>("--job")
        {
            Description = $"{description}: one of {string.Join(", ", names)}" + (required ? "" : $"; default {CoreCommandLine.DefaultJob.Name}"),
            Required = required,
        };
        if (!required)
            option.DefaultValueFactory = _ => CoreCommandLine.DefaultJob.Name;
        if (checks is not null)
        {
            OptionChecks.Check(option, (result, job) =>
            {
                if (!(runNames ? checks.Jobs.TryFindRun(job, out _, out var unknown) : checks.Jobs.TryFind(job, out _, out unknown)))
                    result.AddError($"--job: {unknown}.");
            });
        }
        return option;
    }

    /// <summary>
    /// A day option, YYYY-MM-DD. Before the host is built only the form is checked; after, the
    /// calendar's parser also holds it between Batch:EarliestDay and <paramref name="latest"/> (default: any day).
    /// </summary>
    public static Option<DateOnly?> DayOption(string name, string description, CommandChecks? checks, Func<ArgumentResult, DateOnly>? latest = null) =>
        new(name)
        {
            Description = description,
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : null;
                string? problem;
                var parsed = checks is null
                    ? BatchDay.TryParseWithin(text, name, DateOnly.MinValue, DateOnly.MaxValue, out var day, out problem)
                    : checks.Calendar.TryParseDay(text, name, out day, out problem, latest?.Invoke(result) ?? DateOnly.MaxValue);
                if (parsed)
                    return day;
                result.AddError(problem!);
                return null;
            },
        };

    public const string ZoneOptionName = "--zone";

    /// <summary>
    /// `--zone`: the zone a command shows its times in (<see cref="CommandTime"/>), an id this machine's time zone
    /// database knows; the batch zone when left out. Checked before the host is built: it needs no settings.
    /// </summary>
    public static Option<TimeZoneInfo?> ZoneOption() =>
        new(ZoneOptionName)
        {
            Description = "Show times in this zone, an IANA id such as Europe/Berlin or UTC; default: the batch zone (Batch:TimeZone, "
                          + "Asia/Seoul unless set). Each time carries its zone's label, e.g. KST",
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
                if (BatchCalendar.FindZone(text) is { } zone)
                    return zone;
                result.AddError($"{ZoneOptionName} '{text}' is not a time zone this machine knows; give an IANA id such as Asia/Seoul, Europe/Berlin or UTC.");
                return null;
            },
        };

    /// <summary>A validator that holds a number at or above <paramref name="least"/>, saying so in <paramref name="message"/>.</summary>
    public static Option<T> AtLeast<T>(Option<T> option, T least, string message) where T : struct, IComparable<T> =>
        OptionChecks.Check(option, (result, value) =>
        {
            if (value.CompareTo(least) < 0)
                result.AddError(message);
        });
}
