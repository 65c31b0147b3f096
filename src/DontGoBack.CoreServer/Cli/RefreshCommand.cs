using System.CommandLine;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Common;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// `refresh [--day D] [--json] [--allow-future-day]`: the daily asset refresh once, for one day; a day
/// after today only on a load-test database (LoadTest:AllowFutureDays=true).
/// </summary>
public sealed class RefreshCommand(JobDayRun run, BatchCalendar calendar) : ICoreCommand, IDeclaredCommand
{
    /// <summary>How far past today `refresh --allow-future-day` may go: far enough for load tests, never near the calendar's end.</summary>
    public const int MaxFutureDays = 3_660;

    public static Command Declare(CommandChecks? checks)
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
        var dayOption = CommandChecks.DayOption("--day", "Snapshot day YYYY-MM-DD; default today in the batch time zone", checks,
            latest: result => checks!.Calendar.Today.AddDays(result.GetValue(futureOption) ? MaxFutureDays : 0));
        return new Command("refresh", "Run the daily asset refresh once for a day, for every ACTIVE user")
        {
            dayOption, CoreCommandLine.JsonOption(), CoreCommandLine.QuietOption(), futureOption,
        };
    }

    public Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken) =>
        run.RunAsync(AssetRefreshJob.Name, parsed.GetValue<DateOnly?>("--day") ?? calendar.Today, parsed.GetValue<bool>("--json"),
            retryOnly: false, parsed.InvocationConfiguration.Output, cancellationToken);
}
