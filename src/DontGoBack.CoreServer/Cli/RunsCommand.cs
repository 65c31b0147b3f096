using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// `runs [--job NAME] [--from D] [--to D] [--attempts] [--zone Z] [--json]`: the recorded days of a job as a markdown table, newest day
/// first, each over all its attempts (written, failed now, already done, not due, the job's own counters in its words, first start,
/// last finish, time spent working), a running day with its live progress and ETA, times in the batch zone (or `--zone`) and labelled; with `--attempts`,
/// every attempt of those days on a line of its own; with `--json`, the same list as `GET /internal/batch/runs` answers it
/// (with `--attempts`, each run with its attempts).
/// </summary>
public sealed class RunsCommand(CoreServerStartup startup, IServiceScopeFactory scopes, BatchCalendar calendar) : ICoreCommand, IDeclaredCommand
{
    public static Command Declare(CommandChecks? checks) =>
        new("runs", "List recorded runs, newest day first")
        {
            CommandChecks.JobOption(checks, runNames: true, "Job name (a `-subset` name lists its back-fills of some users)"),
            CommandChecks.DayOption("--from", "First day YYYY-MM-DD", checks),
            CommandChecks.DayOption("--to", "Last day YYYY-MM-DD", checks),
            new Option<bool>("--attempts") { Description = "List every attempt of each day, with its own counts, instead of the days" },
            CommandChecks.ZoneOption(),
            CoreCommandLine.JsonOption(),
        };

    public async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var output = parsed.InvocationConfiguration.Output;
        await startup.PrepareAsync(seed: false, cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var jobName = parsed.GetValue<string>("--job")!;
        // The job says its own counters in words; the table knows none of their names.
        var job = scope.ServiceProvider.GetRequiredService<BatchJobs>().TryFindRun(jobName, out var registered, out _) ? registered.Definition : null;
        var found = await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().ListAsync(jobName,
            parsed.GetValue<DateOnly?>("--from") ?? DateOnly.MinValue, parsed.GetValue<DateOnly?>("--to") ?? DateOnly.MaxValue, cancellationToken);
        var ledger = scope.ServiceProvider.GetRequiredService<BatchRunLedger>();
        var views = await BatchRunsEndpoints.ViewsAsync(found, ledger, scope.ServiceProvider.GetRequiredService<RunProgressReader>(), cancellationToken);
        var time = CommandTime.Of(parsed, calendar);
        if (parsed.GetValue<bool>("--attempts"))
        {
            return await WriteAttemptsAsync(views, await ledger.AttemptsAsync(views.ConvertAll(v => v.Id), cancellationToken),
                parsed.GetValue<bool>("--json"), time, job, output);
        }
        if (parsed.GetValue<bool>("--json"))
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(views, JsonSerializerOptions.Web));
            return 0;
        }

        // The day's figures, whatever attempt wrote them: a re-run that found the day done does not blank it.
        await output.WriteLineAsync(
            $"| id | day | status | attempts | total | written | already done | not due | failed now | counters | {time.Heading("started")} | {time.Heading("finished")} | working | nodes | error | progress | {time.Heading("ETA")} |");
        await output.WriteLineAsync("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var run in views)
        {
            var day = run.DayView;
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"| {run.Id} | {run.Day:yyyy-MM-dd} | {run.Status.ToText()} | {run.Attempts} | {day.Total} | {day.Written} | {day.AlreadyDone} | " +
                $"{day.NotDue} | {day.FailedNow} | {job?.Describe(day.Counters)} | {time.Format(day.FirstStartedAt)} | {time.Format(day.LastFinishedAt)} | " +
                $"{Seconds(day.WorkingMs)} | {string.Join(',', run.Nodes)} | {run.Error} | {ProgressCell(run.Progress)} | {EtaCell(run.Progress, time)} |"));
        }
        return 0;
    }

    /// <summary>
    /// `--attempts`: each attempt of the listed days with its own counts, the day's newest first and its attempts first first;
    /// an attempt that found every user done reads "nothing to do" beside its status.
    /// </summary>
    private static async Task<int> WriteAttemptsAsync(
        List<BatchRunsEndpoints.RunView> views, ILookup<long, BatchRunAttempt> attempts, bool json, CommandTime time, DailyJobDefinition? job,
        TextWriter output)
    {
        if (json)
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(
                views.ConvertAll(v => new RunAttempts(v, attempts[v.Id].Select(RunAttemptView.Of).ToList())), JsonSerializerOptions.Web));
            return 0;
        }
        await output.WriteLineAsync(
            $"| id | day | attempt | status | node | {time.Heading("started")} | {time.Heading("finished")} | took | to do | seen | success | skipped | not due | failed | counters | error |");
        await output.WriteLineAsync("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var run in views)
        {
            foreach (var attempt in attempts[run.Id])
            {
                var took = (long)((attempt.FinishedAt ?? attempt.UpdatedAt) - attempt.StartedAt).TotalMilliseconds;
                var status = attempt.FoundNothingToDo ? $"{attempt.Status.ToText()} (nothing to do)" : attempt.Status.ToText();
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"| {run.Id} | {run.Day:yyyy-MM-dd} | {attempt.Attempt} | {status} | {attempt.Node} | " +
                    $"{time.Format(attempt.StartedAt)} | {time.Format(attempt.FinishedAt)} | {Seconds(took)} | " +
                    $"{attempt.Expected} | {attempt.Total} | {attempt.Success} | {attempt.Skipped} | {attempt.NotDue} | {attempt.Failed} | {job?.Describe(BatchCounters.FromJson(attempt.Counters))} | {attempt.Error} |"));
            }
        }
        return 0;
    }

    /// <summary>A duration in seconds with one decimal, e.g. "12.3 s".</summary>
    private static string Seconds(long milliseconds) => string.Create(CultureInfo.InvariantCulture, $"{milliseconds / 1000.0:0.0} s");

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

    /// <summary>What `runs --attempts --json` prints for a day: the run as `runs --json` lists it, and each of its attempts.</summary>
    public sealed record RunAttempts(BatchRunsEndpoints.RunView Run, IReadOnlyList<RunAttemptView> Attempts);
}
