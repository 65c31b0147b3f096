using System.Text.Json;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Cli;

/// <summary>One day of one job run from the command line (`run`, `refresh`, `retry-failed`), its result printed as the server records it.</summary>
public sealed class JobDayRun(
    CoreServerStartup startup, IServiceScopeFactory scopes, TimeProvider time, TerminationSignals signals, CommandProgress progress, CommandConsole console)
{
    /// <param name="job">The job as the registry found it.</param>
    /// <param name="retryOnly">Only continue a recorded run; a day never run is a usage error.</param>
    public async Task<int> RunAsync(DailyJobSchedule job, DateOnly day, bool json, bool retryOnly, TextWriter output, CancellationToken cancellationToken)
    {
        // A retry adds no demo users: it continues a recorded run or does nothing.
        await startup.PrepareAsync(seed: !retryOnly, cancellationToken);
        await startup.EnsureWritableAsync(cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var ledger = scope.ServiceProvider.GetRequiredService<BatchRunLedger>();
        var runner = job.RunnerIn(scope.ServiceProvider);
        if (await runner.WhyNotRunnableAsync(day, cancellationToken) is { } refused)
        {
            await Console.Error.WriteLineAsync(NotRunnable(runner.Definition, day, refused));
            return CoreCommandLine.UsageError;
        }
        var recorded = retryOnly ? await ledger.FindAsync(runner.Definition.Name, day, cancellationToken) : null;
        if (retryOnly && recorded is null)
        {
            await Console.Error.WriteLineAsync(
                $"No {runner.Definition.LowerTitle} run is recorded for {day:yyyy-MM-dd}, so there is nothing to retry; "
                + $"`run --job {runner.Definition.Name} --day {day:yyyy-MM-dd}` runs the day.");
            return CoreCommandLine.UsageError;
        }
        if (recorded is not null && !await runner.OwesAsync(recorded, cancellationToken))
        {
            // Not a failure and not work: no attempt is recorded, and the answer is the day as it stands.
            if (ResultLines.ForPeople(json, console, output) is { } told)
                await told.WriteLineAsync($"{runner.Definition.Title} {day:yyyy-MM-dd}: {OperatorActions.NothingToRetry(runner.Definition, recorded)}.");
            if (json)
                await output.WriteLineAsync(JsonSerializer.Serialize(await RecordedResultAsync(ledger, runner.Definition.Name, day, 0), JsonSerializerOptions.Web));
            return 0;
        }

        var started = time.GetTimestamp();
        BatchResult result;
        try
        {
            result = await progress.ShowAsync($"{runner.Definition.Title} {day:yyyy-MM-dd}", watch => runner.TryRunAsync(day, cancellationToken, followProgress: watch.Follow))
                     ?? new BatchResult(day, BatchRunStatus.Running, 0, 0, 0, 0, 0, "another attempt is running this day");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The job recorded the run before passing the cancellation on; the recorded run is the result.
            result = await RecordedResultAsync(ledger, runner.Definition.Name, day, (long)time.GetElapsedTime(started).TotalMilliseconds);
        }

        // With --json the line people read goes to standard error, so standard output is the JSON alone.
        if (ResultLines.ForPeople(json, console, output) is { } people)
        {
            await people.WriteLineAsync(ResultLines.Of(runner.Definition, result));
            if (result.Error is not null)
                await people.WriteLineAsync($"Stopped early: {result.Error}");
        }
        if (json)
            await output.WriteLineAsync(JsonSerializer.Serialize(result, JsonSerializerOptions.Web));
        if (signals.ExitCode is { } stopped)
            return stopped;
        return result.Status is BatchRunStatus.Failed or BatchRunStatus.Running ? 1 : 0;
    }

    /// <summary>The one line a command prints for a day the job refuses before it runs, recording nothing.</summary>
    public static string NotRunnable(DailyJobDefinition job, DateOnly day, string reason) =>
        $"{job.Title} {day:yyyy-MM-dd} was not run and nothing was recorded: {reason}";

    /// <summary>The result of a run a signal stopped, as the job recorded it before passing the cancellation on.</summary>
    public static async Task<BatchResult> RecordedResultAsync(BatchRunLedger ledger, string job, DateOnly day, long elapsedMs)
    {
        var run = await ledger.FindAsync(job, day, CancellationToken.None);
        return run is null
            ? new BatchResult(day, BatchRunStatus.Aborted, 0, 0, 0, 0, elapsedMs, "stopped before the run was recorded")
            : new BatchResult(day, run.Status, run.Total, run.Success, run.Skipped, run.Failed, elapsedMs, run.Error, run.Id, run.Attempts)
            {
                Counters = BatchCounters.FromJson(run.Counters),
            };
    }
}

/// <summary>How the commands print a run's result.</summary>
public static class ResultLines
{
    /// <summary>
    /// Where the lines people read go: standard output, or standard error when standard output
    /// carries JSON (`--json`); nowhere with `--quiet` and JSON, since the JSON then is the whole result.
    /// </summary>
    public static TextWriter? ForPeople(bool json, CommandConsole console, TextWriter output) =>
        !json ? output : console.Quiet ? null : Console.Error;

    /// <summary>The plain result line; "total" counts the ACTIVE users the run looked at, the only ones refreshed.</summary>
    public static string Of(DailyJobDefinition job, BatchResult result) =>
        $"{job.Title} {result.Day:yyyy-MM-dd}: {result.Status.ToText()} — total {result.Total} {job.Counted}, success {result.Success}, " +
        $"skipped {result.Skipped}{BeforeOpening(result)}, failed {result.Failed}{Counters(job, result)}, {result.ElapsedMs} ms";

    public static string BeforeOpening(BatchResult result) =>
        result.NotDue > 0 ? $" ({result.NotDue} opened later)" : "";

    /// <summary>Why a day had nothing to do: "all 850 opened later (not due)".</summary>
    public static string NotDue(BatchResult result) => $"all {result.Total} opened later (not due)";

    /// <summary>The job's own counters in its words, e.g. ", re-based 12 later days of 3 users"; nothing when it has none to tell.</summary>
    public static string Counters(DailyJobDefinition job, BatchResult result) =>
        job.Describe(result.Counters) is { } told ? $", {told}" : "";
}
