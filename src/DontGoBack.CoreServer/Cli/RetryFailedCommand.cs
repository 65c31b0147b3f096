using DontGoBack.Batch.Runs;
using System.CommandLine;

namespace DontGoBack.CoreServer.Cli;

/// <summary>`retry-failed --day D [--job NAME] [--json]`: a recorded day of a job again, only what is not done yet.</summary>
public sealed class RetryFailedCommand(JobDayRun run, BatchJobs jobs) : ICoreCommand, IDeclaredCommand
{
    public static Command Declare(CommandChecks? checks)
    {
        var dayOption = CommandChecks.DayOption("--day", "Day YYYY-MM-DD of a recorded run", checks, latest: _ => checks!.Calendar.Today);
        dayOption.Required = true;
        return new Command("retry-failed", "Run a recorded day again: only users not yet done (failed or never reached)")
        {
            dayOption, CommandChecks.JobOption(checks, runNames: false, "Job name"),
            CoreCommandLine.JsonOption(), CoreCommandLine.QuietOption(),
        };
    }

    public Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken) =>
        run.RunAsync(jobs.Find(parsed.GetValue<string>("--job")), parsed.GetValue<DateOnly?>("--day")!.Value, parsed.GetValue<bool>("--json"),
            retryOnly: true, parsed.InvocationConfiguration.Output, cancellationToken);
}
