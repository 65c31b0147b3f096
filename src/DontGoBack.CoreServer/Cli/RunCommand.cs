using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using System.CommandLine;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// `run --job NAME [--day D] [--json] [--allow-future-day]`: one day of any registered job, for every id it covers; a day
/// after today only on a load-test database (LoadTest:AllowFutureDays=true). `refresh` is this for the asset refresh.
/// </summary>
public sealed class RunCommand(JobDayRun run, BatchJobs jobs, BatchCalendar calendar) : ICoreCommand, IDeclaredCommand
{
    /// <summary>How far past today `--allow-future-day` may go: far enough for load tests, never near the calendar's end.</summary>
    public const int MaxFutureDays = 3_660;

    public static Command Declare(CommandChecks? checks)
    {
        var jobOption = CommandChecks.JobOption(checks, runNames: false, "The job to run", required: true);
        return DeclareDayRun("run", "Run one day of a job once, for everything it covers", checks, jobOption);
    }

    /// <summary>
    /// The options of a command that runs one day of a job: `run`, and `refresh`, its alias for the asset refresh (no `--job`).
    /// </summary>
    internal static Command DeclareDayRun(string name, string description, CommandChecks? checks, Option<string>? jobOption)
    {
        var futureOption = new Option<bool>("--allow-future-day")
        {
            Description = $"Accept a day after today (load tests only, with {LoadTestOptions.SectionName}:{nameof(LoadTestOptions.AllowFutureDays)}=true: it writes snapshots ahead of time)",
        };
        if (checks is not null)
        {
            // On a database in use it would move every pointer ahead of today, where later adjustments never show.
            OptionChecks.Check(futureOption, (result, allow) =>
            {
                if (allow && !checks.LoadTest.AllowFutureDays)
                {
                    result.AddError("--allow-future-day writes snapshots ahead of today, which later adjustments never reach; it is for load-test databases only "
                                    + $"and needs {LoadTestOptions.SectionName}:{nameof(LoadTestOptions.AllowFutureDays)}=true.");
                }
            });
        }
        var dayOption = CommandChecks.DayOption("--day", "Day YYYY-MM-DD; default today in the batch time zone", checks,
            latest: result => checks!.Calendar.Today.AddDays(result.GetValue(futureOption) ? MaxFutureDays : 0));
        var command = new Command(name, description);
        if (jobOption is not null)
            command.Options.Add(jobOption);
        foreach (var option in new Option[] { dayOption, CoreCommandLine.JsonOption(), CoreCommandLine.QuietOption(), futureOption })
            command.Options.Add(option);
        return command;
    }

    public Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken) =>
        RunDayAsync(run, jobs.Find(parsed.GetValue<string>("--job")), calendar, parsed, cancellationToken);

    /// <summary>Runs the day the command line asks for of <paramref name="job"/>, found by the registry.</summary>
    internal static Task<int> RunDayAsync(JobDayRun run, DailyJobSchedule job, BatchCalendar calendar, ParseResult parsed, CancellationToken cancellationToken) =>
        run.RunAsync(job, parsed.GetValue<DateOnly?>("--day") ?? calendar.Today, parsed.GetValue<bool>("--json"),
            retryOnly: false, parsed.InvocationConfiguration.Output, cancellationToken);
}
