using System.CommandLine;
using System.Text.Json;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// `backfill --days N [--job NAME] [--users 1-100,205]`: the N days before today of a job (default the asset refresh), oldest first,
/// skipping what is done; with `--users`, runs of those ids only, recorded under the job's subset name.
/// </summary>
public sealed class BackfillCommand(
    CoreServerStartup startup, IServiceScopeFactory scopes, BatchJobs jobs, BatchCalendar calendar, TerminationSignals signals, CommandProgress progress,
    CommandConsole console, TimeProvider time) : ICoreCommand, IDeclaredCommand
{
    /// <summary>The most days one back-fill may cover, whatever Batch:EarliestDay allows.</summary>
    public const int MaxDays = 3_650;

    public static Command Declare(CommandChecks? checks)
    {
        var daysOption = new Option<int>("--days") { Description = "How many days before today to fill", Required = true };
        if (checks is not null)
        {
            OptionChecks.Check(daysOption, (result, days) =>
            {
                var (today, earliest) = (checks.Calendar.Today, checks.Calendar.EarliestDay);
                var mostDays = Math.Min(MaxDays, today.DayNumber - earliest.DayNumber);
                if (days < 1 || days > mostDays)
                    result.AddError($"--days must be between 1 and {mostDays} (no day before Batch:EarliestDay {earliest:yyyy-MM-dd}).");
            });
        }
        var usersOption = new Option<IReadOnlyList<IdRange>?>("--users")
        {
            Description = "User ids: 5, 1-100 or 1-100,205; default every active user",
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
                if (IdRange.TryParseList(text, out var ranges))
                    return ranges;
                result.AddError($"--users '{text}' is not a list of ids or ranges such as 1-100,205.");
                return null;
            },
        };
        var jobOption = CommandChecks.JobOption(checks, runNames: false, "The job to fill");
        if (checks is not null)
        {
            // Runs of some ids only are recorded under the job's subset name, so they never count as its day done: a job without one has none.
            usersOption.Validators.Add(result =>
            {
                if (result.Implicit || result.GetResult(jobOption)?.GetValueOrDefault<string>() is not { } job
                    || !checks.Jobs.TryFind(job, out var found, out _) || found.Definition.SubsetName is not null)
                    return;
                result.AddError($"--users: {found.Definition.LowerTitle} runs every id of a day, never some only; leave --users out.");
            });
        }
        return new Command("backfill", "Run a job's N days before today, oldest first, skipping what is done") {
            daysOption, jobOption, usersOption, CoreCommandLine.JsonOption(), CoreCommandLine.QuietOption(),
        };
    }

    public async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var output = parsed.InvocationConfiguration.Output;
        var json = parsed.GetValue<bool>("--json");
        var people = ResultLines.ForPeople(json, console, output);
        var days = parsed.GetValue<int>("--days");
        var job = jobs.Find(parsed.GetValue<string>("--job"));
        var ranges = parsed.GetValue<IReadOnlyList<IdRange>?>("--users") ?? [IdRange.All];
        var today = calendar.Today;

        await startup.PrepareAsync(seed: false, cancellationToken);
        await startup.EnsureWritableAsync(cancellationToken);
        // Every day is asked before any runs: a back-fill reaching a day the job refuses is a usage error, with nothing recorded.
        await using (var asking = scopes.CreateAsyncScope())
        {
            var runner = job.RunnerIn(asking.ServiceProvider);
            for (var day = today.AddDays(-days); day < today; day = day.AddDays(1))
            {
                if (await runner.WhyNotRunnableAsync(day, cancellationToken) is { } refused)
                {
                    await Console.Error.WriteLineAsync(JobDayRun.NotRunnable(runner.Definition, day, refused));
                    return CoreCommandLine.UsageError;
                }
            }
        }
        // Demo users seeded now open the day before the first back-filled day, so their history is one unbroken chain.
        await using (var seeding = scopes.CreateAsyncScope())
        {
            await seeding.ServiceProvider.GetRequiredService<DemoDataSeeder>().SeedEmptyAsync(
                seeding.ServiceProvider.GetRequiredService<DontGoBackDbContext>(), today.AddDays(-days - 1), cancellationToken);
        }
        var filled = new List<BackfillDay>();
        var (status, exitCode) = await progress.ShowAsync("Back-fill", async watch =>
        {
            // Oldest first: each day's base is the day before it.
            for (var (day, done) = (today.AddDays(-days), 0); day < today; day = day.AddDays(1), done++)
            {
                watch.Steps(done, days, "day");
                foreach (var range in ranges)
                {
                    var users = range == IdRange.All ? "all" : $"{range.First}-{range.Last}";
                    watch.Describe($"Back-fill {day:yyyy-MM-dd} users {users}");
                    var started = time.GetTimestamp();
                    await using var scope = scopes.CreateAsyncScope();
                    var runner = job.RunnerIn(scope.ServiceProvider);
                    BatchResult? result;
                    try
                    {
                        result = await runner.TryRunAsync(day, cancellationToken, range == IdRange.All ? null : range, watch.Follow);
                    }
                    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                    {
                        // Recorded aborted by the job; the days before it are done, this one resumes on the next back-fill.
                        var runName = range == IdRange.All ? runner.Definition.Name : runner.Definition.SubsetName ?? runner.Definition.Name;
                        filled.Add(new BackfillDay(users, await JobDayRun.RecordedResultAsync(scope.ServiceProvider.GetRequiredService<BatchRunLedger>(),
                            runName, day, (long)time.GetElapsedTime(started).TotalMilliseconds)));
                        if (people is not null)
                            await people.WriteLineAsync($"{day:yyyy-MM-dd} users {users}: {BatchRunStatus.Aborted.ToText()}");
                        return (BatchRunStatus.Aborted, signals.ExitCode ?? 1);
                    }
                    if (result is null || result.Status == BatchRunStatus.Failed)
                    {
                        if (result is not null)
                            filled.Add(new BackfillDay(users, result));
                        await Console.Error.WriteLineAsync($"Back-fill of {day:yyyy-MM-dd} failed: {result?.Error ?? "that day is already running"}");
                        return (result is null ? BatchRunStatus.Running : BatchRunStatus.Failed, 1);
                    }
                    filled.Add(new BackfillDay(users, result));
                    if (people is not null && result.Status == BatchRunStatus.NothingToDo)
                    {
                        // Not a day done: no user was due yet, and the record says so (nothing_to_do), never completed.
                        await people.WriteLineAsync($"{day:yyyy-MM-dd} users {users}: nothing to fill, {ResultLines.NotDue(result)}");
                    }
                    else if (people is not null)
                    {
                        await people.WriteLineAsync(
                            $"{day:yyyy-MM-dd} users {users}: {result.Status.ToText()}, success {result.Success}, skipped {result.Skipped}" +
                            $"{ResultLines.BeforeOpening(result)}, failed {result.Failed}{ResultLines.Counters(job.Definition, result)}");
                    }
                }
            }
            watch.Steps(days, days, "day");
            return (filled.Any(d => d.Result.Status == BatchRunStatus.CompletedWithFailures) ? BatchRunStatus.CompletedWithFailures
                : filled.All(d => d.Result.Status == BatchRunStatus.NothingToDo) ? BatchRunStatus.NothingToDo
                : BatchRunStatus.Completed, 0);
        });
        if (json)
            await output.WriteLineAsync(JsonSerializer.Serialize(new BackfillResult(status, filled), JsonSerializerOptions.Web));
        return exitCode;
    }
}

/// <summary>
/// What `backfill --json` prints: how the back-fill ended (as a run's status: completed, completed_with_failures, failed, aborted,
/// running when a day was taken, nothing_to_do when no day had a user due) and each day's result.
/// </summary>
public sealed record BackfillResult(BatchRunStatus Status, IReadOnlyList<BackfillDay> Days);

/// <param name="Users">"all", or the id range of `--users` the run took.</param>
public sealed record BackfillDay(string Users, BatchResult Result);
