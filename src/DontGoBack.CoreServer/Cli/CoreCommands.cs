using System.CommandLine;
using System.Diagnostics;
using System.CommandLine.Help;
using System.Globalization;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Hosting;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// One-shot commands on the same services as the server: refresh, retry-failed, backfill, seed,
/// runs and verify. The command line is read before the host is built (<see cref="Read"/>), so help, the
/// version and mistakes are answered without touching configuration or the database.
/// </summary>
public sealed class CoreCommands
{
    /// <summary>Exit code of bad input, an unknown command or option, and a configuration error.</summary>
    public const int UsageError = 2;

    /// <summary>How far past today `refresh --allow-future-day` may go: far enough for load tests, never near the calendar's end.</summary>
    public const int MaxFutureDays = 3_660;

    private readonly RootCommand _root;
    private IServiceProvider? _services;
    private TerminationSignals? _signals;

    private CoreCommands()
    {
        var dayOption = new Option<string?>("--day") { Description = "Snapshot day YYYY-MM-DD; default today in the batch time zone" };
        var jsonOption = new Option<bool>("--json") { Description = "Print the result as one JSON object on the last line" };
        var futureOption = new Option<bool>("--allow-future-day") { Description = "Accept a day after today (load tests only: it writes snapshots ahead of time)" };
        var refresh = new Command("refresh", "Run the daily asset refresh once for a day, for every ACTIVE user") { dayOption, jsonOption, futureOption };
        refresh.SetAction((parsed, cancellationToken) => RefreshAsync(AssetRefreshJob.Name, parsed.GetValue(dayOption), parsed.GetValue(jsonOption),
            parsed.GetValue(futureOption), retryOnly: false, parsed.InvocationConfiguration.Output, cancellationToken));

        var usersOption = new Option<int>("--users") { Description = "How many demo users to add", Required = true };
        var activeOption = new Option<int?>("--active-percent") { Description = "Share of ACTIVE users; default DemoData:ActivePercent (85)" };
        var seed = new Command("seed", "Add demo users, each with an opening snapshot yesterday") { usersOption, activeOption };
        seed.SetAction((parsed, cancellationToken) =>
            SeedAsync(parsed.GetValue(usersOption), parsed.GetValue(activeOption), parsed.InvocationConfiguration.Output, cancellationToken));

        var daysOption = new Option<int>("--days") { Description = "How many days before today to fill", Required = true };
        var rangeOption = new Option<string?>("--users") { Description = "User ids: 5, 1-100 or 1-100,205; default every active user" };
        var backfill = new Command("backfill", "Refresh the N days before today, oldest first, skipping what is done") { daysOption, rangeOption };
        backfill.SetAction((parsed, cancellationToken) =>
            BackfillAsync(parsed.GetValue(daysOption), parsed.GetValue(rangeOption), parsed.InvocationConfiguration.Output, cancellationToken));

        var jobOption = new Option<string>("--job") { Description = "Job name (see `runs` in the README for the list)", DefaultValueFactory = _ => AssetRefreshJob.Name };
        var fromOption = new Option<string?>("--from") { Description = "First day YYYY-MM-DD" };
        var toOption = new Option<string?>("--to") { Description = "Last day YYYY-MM-DD" };
        var runs = new Command("runs", "List recorded runs, newest day first") { jobOption, fromOption, toOption };
        runs.SetAction((parsed, cancellationToken) => ListRunsAsync(parsed.GetValue(jobOption)!,
            parsed.GetValue(fromOption), parsed.GetValue(toOption), parsed.InvocationConfiguration.Output, cancellationToken));

        var retryDayOption = new Option<string>("--day") { Description = "Snapshot day YYYY-MM-DD of a recorded run", Required = true };
        var retryJobOption = new Option<string>("--job") { Description = "Job name", DefaultValueFactory = _ => AssetRefreshJob.Name };
        var retry = new Command("retry-failed", "Run a recorded day again: only users not yet done (failed or never reached)") { retryDayOption, retryJobOption, jsonOption };
        retry.SetAction((parsed, cancellationToken) => RefreshAsync(parsed.GetValue(retryJobOption)!, parsed.GetValue(retryDayOption), parsed.GetValue(jsonOption),
            allowFutureDay: false, retryOnly: true, parsed.InvocationConfiguration.Output, cancellationToken));

        var limitOption = new Option<int>("--limit") { Description = "Breaks to print at most (all are counted)", DefaultValueFactory = _ => 100 };
        var verify = new Command("verify", "Check every user's history adds up (the chain rule); exit 1 when anything breaks it")
        {
            fromOption, toOption, limitOption,
        };
        verify.SetAction((parsed, cancellationToken) => VerifyAsync(parsed.GetValue(fromOption), parsed.GetValue(toOption),
            parsed.GetValue(limitOption), parsed.InvocationConfiguration.Output, cancellationToken));

        _root = new RootCommand(
            "DontGoBack core server. Without a command it serves HTTP; it then accepts only host and configuration " +
            "switches such as --urls http://127.0.0.1:5070, --environment Staging or --AssetRefresh:Enabled=false.")
        {
            refresh, seed, backfill, runs, retry, verify,
        };
    }

    private IServiceProvider Services => _services ?? throw new InvalidOperationException("The command runs only after the host is built.");

    /// <summary>
    /// Decides what the arguments ask for: the server (no arguments, or only host and configuration
    /// switches), a command, or something answered at once — help and the version (exit 0), an
    /// unknown command or option (a message on standard error, exit 2).
    /// </summary>
    public static CommandLineRequest Read(string[] args)
    {
        var mistake = ServerArguments.FirstMistake(args);
        if (mistake is null)
            return CommandLineRequest.Server;

        // `help` and `help refresh` mean `--help` and `refresh --help`.
        if (args[0] == "help")
            args = [.. args[1..], "--help"];
        var commands = new CoreCommands();
        var parsed = commands._root.Parse(args);
        if (parsed.Errors.Count > 0)
            return CommandLineRequest.Answered(ReportMistakes(commands._root, parsed, mistake));
        if (parsed.Action is HelpAction || parsed.CommandResult.Command == commands._root)
            return CommandLineRequest.Answered(parsed.Invoke());
        return CommandLineRequest.Command(services => commands.RunAsync(parsed, services));
    }

    /// <param name="mistake">The first argument that made the command line something other than server switches.</param>
    private static int ReportMistakes(RootCommand root, ParseResult parsed, string mistake)
    {
        if (parsed.CommandResult.Command == root)
        {
            Console.Error.WriteLine(mistake.StartsWith('-')
                ? $"unknown option '{mistake}'; the server takes only switches with a value, such as --urls http://127.0.0.1:5070; see --help"
                : $"unknown command '{mistake}'; see --help");
            return UsageError;
        }
        foreach (var error in parsed.Errors)
            Console.Error.WriteLine(error.Message);
        Console.Error.WriteLine($"See '{parsed.CommandResult.Command.Name} --help'.");
        return UsageError;
    }

    private async Task<int> RunAsync(ParseResult parsed, IServiceProvider services)
    {
        _services = services;
        using var signals = new TerminationSignals();
        _signals = signals;
        try
        {
            // The signals are ours, so the exit code can say which one stopped the command.
            return await parsed.InvokeAsync(
                new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, signals.Token);
        }
        catch (OperationCanceledException) when (signals.ExitCode is { } exitCode)
        {
            await Console.Error.WriteLineAsync($"Stopped by {signals.Received} before the command was through.");
            return exitCode;
        }
        catch (Exception e) when (ConfigurationErrors.Describe(e).Count == 0)
        {
            // A configuration error goes on to be reported in one line per setting (exit 2); anything else failed the command.
            await Console.Error.WriteLineAsync($"{parsed.CommandResult.Command.Name} failed: {e}");
            return 1;
        }
    }

    private async Task<int> RefreshAsync(
        string job, string? dayText, bool json, bool allowFutureDay, bool retryOnly, TextWriter output, CancellationToken cancellationToken)
    {
        if (await KnownJobAsync(job, Services.GetRequiredService<BatchJobs>().All.Select(j => j.Definition.Name).ToList()) is not { } definitionName)
            return UsageError;
        var calendar = Services.GetRequiredService<BatchCalendar>();
        var today = calendar.Today;
        var day = today;
        if (dayText is not null && !calendar.TryParseDay(dayText, "--day", out day, out var problem, allowFutureDay ? today.AddDays(MaxFutureDays) : today))
        {
            await Console.Error.WriteLineAsync(problem);
            return UsageError;
        }

        // A retry adds no demo users: it continues a recorded run or does nothing.
        await CoreServerStartup.PrepareAsync(Services, seedEmptyDatabase: !retryOnly, cancellationToken);
        await using var scope = Services.CreateAsyncScope();
        var ledger = scope.ServiceProvider.GetRequiredService<BatchRunLedger>();
        var runner = scope.ServiceProvider.GetServices<IBatchJobRunner>().Single(r => r.Definition.Name == definitionName);
        if (retryOnly && await ledger.FindAsync(runner.Definition.Name, day, cancellationToken) is null)
        {
            await Console.Error.WriteLineAsync(
                $"No {runner.Definition.LowerTitle} run is recorded for {day:yyyy-MM-dd}, so there is nothing to retry; " +
                (runner.Definition.Name == AssetRefreshJob.Name ? $"`refresh --day {day:yyyy-MM-dd}` runs the day." : "the manual trigger runs the day."));
            return UsageError;
        }

        var time = Services.GetRequiredService<TimeProvider>();
        var started = time.GetTimestamp();
        BatchResult result;
        try
        {
            result = await runner.TryRunAsync(day, cancellationToken)
                     ?? new BatchResult(day, BatchRunStatus.Running, 0, 0, 0, 0, 0, "another attempt is running this day");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The job recorded the run before passing the cancellation on; the recorded run is the result.
            result = await RecordedResultAsync(ledger, runner.Definition.Name, day, (long)time.GetElapsedTime(started).TotalMilliseconds);
        }

        await output.WriteLineAsync(ResultLine(runner.Definition, result));
        if (result.Error is not null)
            await output.WriteLineAsync($"Stopped early: {result.Error}");
        if (json)
            await output.WriteLineAsync(JsonSerializer.Serialize(result, JsonSerializerOptions.Web));
        if (_signals?.ExitCode is { } stopped)
            return stopped;
        return result.Status is BatchRunStatus.Failed or BatchRunStatus.Running ? 1 : 0;
    }

    private DateOnly EarliestDay => Services.GetRequiredService<IOptions<BatchOptions>>().Value.EarliestDay;

    /// <summary>The plain result line; "total" counts the ACTIVE users the run looked at, the only ones refreshed.</summary>
    private static string ResultLine(DailyJobDefinition job, BatchResult result) =>
        $"{job.Title} {result.SnapshotDay:yyyy-MM-dd}: {result.Status.ToText()} — total {result.Total} {job.Counted}, success {result.Success}, " +
        $"skipped {result.Skipped}{BeforeOpening(result)}, failed {result.Failed}{Rebased(result)}, {result.ElapsedMs} ms";

    private static string BeforeOpening(BatchResult result) =>
        result.SkippedBeforeOpening > 0 ? $" ({result.SkippedBeforeOpening} opened later)" : "";

    private static string Rebased(BatchResult result) =>
        result.RebasedUsers > 0 ? $", re-based {result.RebasedDays} later days of {result.RebasedUsers} users" : "";

    private static async Task<BatchResult> RecordedResultAsync(BatchRunLedger ledger, string job, DateOnly day, long elapsedMs)
    {
        var run = await ledger.FindAsync(job, day, CancellationToken.None);
        return run is null
            ? new BatchResult(day, BatchRunStatus.Aborted, 0, 0, 0, 0, elapsedMs, "stopped before the run was recorded")
            : new BatchResult(day, run.Status, run.Total, run.Success, run.Skipped, run.Failed, elapsedMs, run.Error, run.Id, run.Attempts,
                run.RebasedUsers, run.RebasedDays);
    }

    private async Task<int> BackfillAsync(int days, string? usersText, TextWriter output, CancellationToken cancellationToken)
    {
        var today = Services.GetRequiredService<BatchCalendar>().Today;
        var mostDays = Math.Min(3_650, today.DayNumber - EarliestDay.DayNumber);
        if (days < 1 || days > mostDays)
        {
            await Console.Error.WriteLineAsync($"--days must be between 1 and {mostDays} (no day before Batch:EarliestDay {EarliestDay:yyyy-MM-dd}).");
            return UsageError;
        }
        IReadOnlyList<UserIdRange> ranges = [UserIdRange.All];
        if (usersText is not null && !UserIdRange.TryParseList(usersText, out ranges))
        {
            await Console.Error.WriteLineAsync($"--users '{usersText}' is not a list of ids or ranges such as 1-100,205.");
            return UsageError;
        }

        // Demo users seeded now open the day before the first back-filled day, so their history is one unbroken chain.
        await CoreServerStartup.PrepareAsync(Services, seedEmptyDatabase: true, cancellationToken, demoOpeningDay: today.AddDays(-days - 1));
        // Oldest first: each day's base is the day before it.
        for (var day = today.AddDays(-days); day < today; day = day.AddDays(1))
        {
            foreach (var range in ranges)
            {
                var users = range == UserIdRange.All ? "all" : $"{range.First}-{range.Last}";
                await using var scope = Services.CreateAsyncScope();
                BatchResult? result;
                try
                {
                    result = await scope.ServiceProvider.GetRequiredService<DailyJobRunner<AssetRefreshJob>>()
                        .TryRunAsync(day, cancellationToken, range == UserIdRange.All ? null : range);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // Recorded aborted by the job; the days before it are done, this one resumes on the next back-fill.
                    await output.WriteLineAsync($"{day:yyyy-MM-dd} users {users}: {BatchRunStatus.Aborted.ToText()}");
                    return _signals?.ExitCode ?? 1;
                }
                if (result is null || result.Status == BatchRunStatus.Failed)
                {
                    await Console.Error.WriteLineAsync($"Back-fill of {day:yyyy-MM-dd} failed: {result?.Error ?? "that day is already running"}");
                    return 1;
                }
                await output.WriteLineAsync(
                    $"{day:yyyy-MM-dd} users {users}: {result.Status.ToText()}, success {result.Success}, skipped {result.Skipped}{BeforeOpening(result)}, " +
                    $"failed {result.Failed}{Rebased(result)}");
            }
        }
        return 0;
    }

    private async Task<int> ListRunsAsync(string job, string? fromText, string? toText, TextWriter output, CancellationToken cancellationToken)
    {
        if (await KnownJobAsync(job, Services.GetRequiredService<BatchJobs>().RunNames) is null)
            return UsageError;
        if (await DayRangeAsync(fromText, toText) is not var (from, to))
            return UsageError;
        await CoreServerStartup.PrepareAsync(Services, seedEmptyDatabase: false, cancellationToken);
        await using var scope = Services.CreateAsyncScope();
        var found = await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().ListAsync(job, from, to, cancellationToken);
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

    /// <returns>The name when it is one of <paramref name="known"/>; null after saying which are.</returns>
    private static async Task<string?> KnownJobAsync(string job, IReadOnlyList<string> known)
    {
        if (known.Contains(job))
            return job;
        await Console.Error.WriteLineAsync($"--job '{job}' is not a job; it is one of: {string.Join(", ", known.Select(name => $"'{name}'"))}.");
        return null;
    }

    /// <summary>--from and --to, each open-ended when left out; null (after saying why) when one is not a supported day.</summary>
    private async Task<(DateOnly From, DateOnly To)?> DayRangeAsync(string? fromText, string? toText)
    {
        var (from, to) = (DateOnly.MinValue, DateOnly.MaxValue);
        string? problem = null;
        var calendar = Services.GetRequiredService<BatchCalendar>();
        if ((fromText is not null && !calendar.TryParseDay(fromText, "--from", out from, out problem, DateOnly.MaxValue))
            || (toText is not null && !calendar.TryParseDay(toText, "--to", out to, out problem, DateOnly.MaxValue)))
        {
            await Console.Error.WriteLineAsync(problem);
            return null;
        }
        return (from, to);
    }

    private async Task<int> VerifyAsync(string? fromText, string? toText, int limit, TextWriter output, CancellationToken cancellationToken)
    {
        if (limit < 0)
        {
            await Console.Error.WriteLineAsync("--limit must not be negative.");
            return UsageError;
        }
        if (await DayRangeAsync(fromText, toText) is not var (from, to))
            return UsageError;
        await CoreServerStartup.PrepareAsync(Services, seedEmptyDatabase: false, cancellationToken);
        await using var scope = Services.CreateAsyncScope();
        var started = Stopwatch.GetTimestamp();
        var check = await scope.ServiceProvider.GetRequiredService<AssetChainVerifier>().CheckAsync(from, to, limit, cancellationToken);
        if (check.Total > 0)
        {
            await output.WriteLineAsync("| user | day | rule | expected | found |");
            await output.WriteLineAsync("|---|---|---|---|---|");
            foreach (var found in check.First)
                await output.WriteLineAsync($"| {found.UserId} | {found.SnapshotDay:yyyy-MM-dd} | {found.Rule} | {found.Expected} | {found.Found} |");
        }
        await output.WriteLineAsync(
            $"{check.Total} breaks of the chain rule{(check.Total > check.First.Count ? $" ({check.First.Count} shown)" : "")}, " +
            $"checked in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");
        return check.Total > 0 ? 1 : 0;
    }

    private async Task<int> SeedAsync(int users, int? activePercent, TextWriter output, CancellationToken cancellationToken)
    {
        if (users <= 0)
        {
            await Console.Error.WriteLineAsync("--users must be a positive number.");
            return UsageError;
        }
        await CoreServerStartup.PrepareAsync(Services, seedEmptyDatabase: false, cancellationToken);
        await using var scope = Services.CreateAsyncScope();
        var demo = Services.GetRequiredService<IOptions<DemoDataOptions>>().Value;
        var percent = activePercent ?? demo.ActivePercent;
        var (firstId, lastId) = await CoreServerStartup.AddDemoUsersAsync(scope.ServiceProvider, users, percent, cancellationToken);
        await output.WriteLineAsync($"Added {users} demo users (ids {firstId}–{lastId}), {percent}% of them ACTIVE.");
        return 0;
    }
}

/// <summary>What the command line asks for, decided before the host is built.</summary>
public sealed class CommandLineRequest
{
    private readonly Func<IServiceProvider, Task<int>>? _command;

    private CommandLineRequest(int? exitCode, Func<IServiceProvider, Task<int>>? command) => (ExitCode, _command) = (exitCode, command);

    public static CommandLineRequest Server { get; } = new(null, null);

    /// <summary>Help, the version or a mistake, already printed; nothing else is to be done.</summary>
    public static CommandLineRequest Answered(int exitCode) => new(exitCode, null);

    public static CommandLineRequest Command(Func<IServiceProvider, Task<int>> run) => new(null, run);

    /// <summary>Set when the request was answered already, without building anything.</summary>
    public int? ExitCode { get; }

    public bool IsCommand => _command is not null;

    public Task<int> RunAsync(IServiceProvider services) =>
        _command?.Invoke(services) ?? throw new InvalidOperationException("Not a command.");
}
