using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using System.CommandLine;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// `refresh [--day D] [--json] [--allow-future-day]`: the daily asset refresh once, for one day — `run --job asset-refresh`
/// under the name it always had, with the same output and exit codes.
/// </summary>
public sealed class RefreshCommand(JobDayRun run, BatchJobs jobs, BatchCalendar calendar) : ICoreCommand, IDeclaredCommand
{
    public static Command Declare(CommandChecks? checks) =>
        RunCommand.DeclareDayRun("refresh", $"Run the daily asset refresh once for a day, for every ACTIVE user (run --job {CoreCommandLine.DefaultJob.Name})", checks, jobOption: null);

    public Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken) =>
        RunCommand.RunDayAsync(run, jobs.Find(CoreCommandLine.DefaultJob.Name), calendar, parsed, cancellationToken);
}
