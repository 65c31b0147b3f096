using System.CommandLine;
using System.Globalization;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Hosting;

namespace DontGoBack.CoreServer.Cli;

/// <summary>`runs [--job NAME] [--from D] [--to D]`: the recorded runs of a job as a markdown table, newest day first.</summary>
public sealed class RunsCommand(CoreServerStartup startup, IServiceScopeFactory scopes) : ICoreCommand, IDeclaredCommand
{
    public static Command Declare(CommandChecks? checks) =>
        new("runs", "List recorded runs, newest day first")
        {
            CommandChecks.JobOption(checks, runNames: true, "Job name (see `runs` in the README for the list)"),
            CommandChecks.DayOption("--from", "First day YYYY-MM-DD", checks),
            CommandChecks.DayOption("--to", "Last day YYYY-MM-DD", checks),
        };

    public async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var output = parsed.InvocationConfiguration.Output;
        await startup.PrepareAsync(seed: false, cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var found = await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().ListAsync(parsed.GetValue<string>("--job")!,
            parsed.GetValue<DateOnly?>("--from") ?? DateOnly.MinValue, parsed.GetValue<DateOnly?>("--to") ?? DateOnly.MaxValue, cancellationToken);
        await output.WriteLineAsync("| id | day | status | attempts | total | success | skipped | failed | started (UTC) | finished (UTC) | nodes | error |");
        await output.WriteLineAsync("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var run in found)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"| {run.Id} | {run.SnapshotDay:yyyy-MM-dd} | {run.Status.ToText()} | {run.Attempts} | {run.Total} | {run.Success} | " +
                $"{run.Skipped} | {run.Failed} | {run.StartedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} | {run.FinishedAt?.UtcDateTime:yyyy-MM-dd HH:mm:ss} | {run.Nodes} | {run.Error} |"));
        }
        return 0;
    }
}
