using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Hosting;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// `runs [--job NAME] [--from D] [--to D] [--zone Z] [--json]`: the recorded runs of a job as a markdown table, newest day first, a
/// running day with its live progress and ETA, times in the batch zone (or `--zone`) and labelled; with `--json`, the same
/// list as `GET /internal/batch/runs` answers it.
/// </summary>
public sealed class RunsCommand(CoreServerStartup startup, IServiceScopeFactory scopes, BatchCalendar calendar) : ICoreCommand, IDeclaredCommand
{
    public static Command Declare(CommandChecks? checks) =>
        new("runs", "List recorded runs, newest day first")
        {
            CommandChecks.JobOption(checks, runNames: true, "Job name (a `-subset` name lists its back-fills of some users)"),
            CommandChecks.DayOption("--from", "First day YYYY-MM-DD", checks),
            CommandChecks.DayOption("--to", "Last day YYYY-MM-DD", checks),
            CommandChecks.ZoneOption(),
            CoreCommandLine.JsonOption(),
        };

    public async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var output = parsed.InvocationConfiguration.Output;
        await startup.PrepareAsync(seed: false, cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var found = await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().ListAsync(parsed.GetValue<string>("--job")!,
            parsed.GetValue<DateOnly?>("--from") ?? DateOnly.MinValue, parsed.GetValue<DateOnly?>("--to") ?? DateOnly.MaxValue, cancellationToken);
        var progress = scope.ServiceProvider.GetRequiredService<RunProgressReader>();
        var views = new List<BatchRunsEndpoints.RunView>(found.Count);
        // Only running runs have live progress to read: a handful at most.
        foreach (var run in found)
            views.Add(BatchRunsEndpoints.RunView.Of(run) with { Progress = await progress.LiveAsync(run, cancellationToken) });
        if (parsed.GetValue<bool>("--json"))
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(views, JsonSerializerOptions.Web));
            return 0;
        }

        var time = CommandTime.Of(parsed, calendar);
        await output.WriteLineAsync(
            $"| id | day | status | attempts | total | success | skipped | failed | {time.Heading("started")} | {time.Heading("finished")} | nodes | error | progress | {time.Heading("ETA")} |");
        await output.WriteLineAsync("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var run in views)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"| {run.Id} | {run.SnapshotDay:yyyy-MM-dd} | {run.Status.ToText()} | {run.Attempts} | {run.Total} | {run.Success} | " +
                $"{run.Skipped} | {run.Failed} | {time.Format(run.StartedAt)} | {time.Format(run.FinishedAt)} | " +
                $"{string.Join(',', run.Nodes)} | {run.Error} | {ProgressCell(run.Progress)} | {EtaCell(run.Progress, time)} |"));
        }
        return 0;
    }

    /// <summary>
    /// A running day's progress as last written, users processed of those its attempt had to do, e.g. "4,000 of 8,500 (47%), 2,100 users/s";
    /// empty for any other run.
    /// </summary>
    private static string ProgressCell(RunProgressView? live) => live is null ? "" : string.Create(CultureInfo.InvariantCulture,
        $"{live.Processed:N0} of {live.Expected:N0} ({Math.Floor(live.Percent):0}%), {live.UsersPerSecond:N0} users/s");

    private static string EtaCell(RunProgressView? live, CommandTime time) => live switch
    {
        null => "",
        { Eta: { } eta } => time.Format(eta),
        _ => "unknown",
    };
}
