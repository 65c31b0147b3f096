using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Hosting;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Cli;

/// <summary>One-shot commands on the same services as the server: refresh, retry-failed, backfill, seed and runs.</summary>
public static class CoreCommands
{
    private static readonly string[] Names = ["refresh", "seed", "backfill", "runs", "retry-failed"];

    public static bool IsCommand(string[] args) => args.Length > 0 && Names.Contains(args[0]);

    public static async Task<int> RunAsync(IServiceProvider services, string[] args)
    {
        var dayOption = new Option<string?>("--day") { Description = "Snapshot day YYYY-MM-DD; default today in the batch time zone" };
        var jsonOption = new Option<bool>("--json") { Description = "Print the result as one JSON object on the last line" };
        var futureOption = new Option<bool>("--allow-future-day") { Description = "Accept a day after today (load tests only: it writes snapshots ahead of time)" };
        var refresh = new Command("refresh", "Run the daily asset refresh once for a day") { dayOption, jsonOption, futureOption };
        refresh.SetAction((parsed, cancellationToken) => RefreshAsync(services, parsed.GetValue(dayOption), parsed.GetValue(jsonOption),
            parsed.GetValue(futureOption), parsed.InvocationConfiguration.Output, cancellationToken));

        var usersOption = new Option<int>("--users") { Description = "How many demo users to add", Required = true };
        var activeOption = new Option<int?>("--active-percent") { Description = "Share of ACTIVE users; default DemoData:ActivePercent" };
        var seed = new Command("seed", "Add demo users, each with an opening snapshot yesterday") { usersOption, activeOption };
        seed.SetAction((parsed, cancellationToken) =>
            SeedAsync(services, parsed.GetValue(usersOption), parsed.GetValue(activeOption), parsed.InvocationConfiguration.Output, cancellationToken));

        var daysOption = new Option<int>("--days") { Description = "How many days before today to fill", Required = true };
        var rangeOption = new Option<string?>("--users") { Description = "User ids: 5, 1-100 or 1-100,205; default every active user" };
        var backfill = new Command("backfill", "Refresh the N days before today, oldest first, skipping what is done") { daysOption, rangeOption };
        backfill.SetAction((parsed, cancellationToken) =>
            BackfillAsync(services, parsed.GetValue(daysOption), parsed.GetValue(rangeOption), parsed.InvocationConfiguration.Output, cancellationToken));

        var jobOption = new Option<string>("--job") { Description = "Job name", DefaultValueFactory = _ => AssetRefreshJob.Name };
        var fromOption = new Option<string?>("--from") { Description = "First day YYYY-MM-DD" };
        var toOption = new Option<string?>("--to") { Description = "Last day YYYY-MM-DD" };
        var runs = new Command("runs", "List recorded runs, newest day first") { jobOption, fromOption, toOption };
        runs.SetAction((parsed, cancellationToken) => ListRunsAsync(services, parsed.GetValue(jobOption)!,
            parsed.GetValue(fromOption), parsed.GetValue(toOption), parsed.InvocationConfiguration.Output, cancellationToken));

        var retryDayOption = new Option<string>("--day") { Description = "Snapshot day YYYY-MM-DD", Required = true };
        var retry = new Command("retry-failed", "Run a day again: only users not yet done (failed or never reached)") { retryDayOption, jsonOption };
        retry.SetAction((parsed, cancellationToken) => RefreshAsync(services, parsed.GetValue(retryDayOption), parsed.GetValue(jsonOption),
            allowFutureDay: false, parsed.InvocationConfiguration.Output, cancellationToken));

        var root = new RootCommand("DontGoBack core server; without a command it serves HTTP") { refresh, seed, backfill, runs, retry };
        try
        {
            return await root.Parse(args).InvokeAsync();
        }
        catch (OptionsValidationException e)
        {
            foreach (var failure in e.Failures)
                await Console.Error.WriteLineAsync($"Configuration error: {failure}");
            return 2;
        }
    }

    private static async Task<int> RefreshAsync(
        IServiceProvider services, string? dayText, bool json, bool allowFutureDay, TextWriter output, CancellationToken cancellationToken)
    {
        var zone = services.GetRequiredService<IOptions<AssetRefreshOptions>>().Value;
        var today = BatchDay.Today(services.GetRequiredService<TimeProvider>(), zone.ResolveZone());
        DateOnly day;
        if (dayText is null)
        {
            day = today;
        }
        else if (!BatchDay.TryParse(dayText, out day))
        {
            await Console.Error.WriteLineAsync($"--day '{dayText}' is not a date in the form YYYY-MM-DD.");
            return 2;
        }
        if (day > today && !allowFutureDay)
        {
            await Console.Error.WriteLineAsync($"--day {day:yyyy-MM-dd} has not begun in {zone.TimeZone} (today is {today:yyyy-MM-dd}).");
            return 2;
        }

        await CoreServerStartup.PrepareAsync(services, seedEmptyDatabase: true, cancellationToken);
        await using var scope = services.CreateAsyncScope();
        var result = await scope.ServiceProvider.GetRequiredService<AssetRefreshJob>().TryRunAsync(day, cancellationToken)
                     ?? new BatchResult(day, BatchRunStatus.Running, 0, 0, 0, 0, 0, "another attempt is running this day");

        await output.WriteLineAsync(
            $"Asset refresh {result.SnapshotDay:yyyy-MM-dd}: {JsonSerializer.Serialize(result.Status)} — total {result.Total}, success {result.Success}, " +
            $"skipped {result.Skipped}, failed {result.Failed}, {result.ElapsedMs} ms");
        if (result.Error is not null)
            await output.WriteLineAsync($"Stopped early: {result.Error}");
        if (json)
            await output.WriteLineAsync(JsonSerializer.Serialize(result, JsonSerializerOptions.Web));
        return result.Status is BatchRunStatus.Failed or BatchRunStatus.Running ? 1 : 0;
    }

    private static async Task<int> BackfillAsync(
        IServiceProvider services, int days, string? usersText, TextWriter output, CancellationToken cancellationToken)
    {
        if (days is < 1 or > 3_650)
        {
            await Console.Error.WriteLineAsync("--days must be between 1 and 3650.");
            return 2;
        }
        IReadOnlyList<UserIdRange> ranges = [UserIdRange.All];
        if (usersText is not null && !UserIdRange.TryParseList(usersText, out ranges))
        {
            await Console.Error.WriteLineAsync($"--users '{usersText}' is not a list of ids or ranges such as 1-100,205.");
            return 2;
        }

        var today = BatchDay.Today(services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<IOptions<AssetRefreshOptions>>().Value.ResolveZone());
        // Demo users seeded now open the day before the first back-filled day, so their history is one unbroken chain.
        await CoreServerStartup.PrepareAsync(services, seedEmptyDatabase: true, cancellationToken, demoOpeningDay: today.AddDays(-days - 1));
        // Oldest first: each day's base is the day before it.
        for (var day = today.AddDays(-days); day < today; day = day.AddDays(1))
        {
            foreach (var range in ranges)
            {
                await using var scope = services.CreateAsyncScope();
                var result = await scope.ServiceProvider.GetRequiredService<AssetRefreshJob>()
                    .TryRunAsync(day, cancellationToken, range == UserIdRange.All ? null : range);
                if (result is null || result.Status == BatchRunStatus.Failed)
                {
                    await Console.Error.WriteLineAsync($"Back-fill of {day:yyyy-MM-dd} failed: {result?.Error ?? "that day is already running"}");
                    return 1;
                }
                await output.WriteLineAsync(
                    $"{day:yyyy-MM-dd} users {(range == UserIdRange.All ? "all" : $"{range.First}-{range.Last}")}: " +
                    $"success {result.Success}, skipped {result.Skipped}, failed {result.Failed}");
            }
        }
        return 0;
    }

    private static async Task<int> ListRunsAsync(
        IServiceProvider services, string job, string? fromText, string? toText, TextWriter output, CancellationToken cancellationToken)
    {
        var from = DateOnly.MinValue;
        var to = DateOnly.MaxValue;
        if ((fromText is not null && !BatchDay.TryParse(fromText, out from))
            || (toText is not null && !BatchDay.TryParse(toText, out to)))
        {
            await Console.Error.WriteLineAsync("--from and --to must be dates in the form YYYY-MM-DD.");
            return 2;
        }
        await CoreServerStartup.PrepareAsync(services, seedEmptyDatabase: false, cancellationToken);
        await using var scope = services.CreateAsyncScope();
        var found = await scope.ServiceProvider.GetRequiredService<BatchRunLedger>().ListAsync(job, from, to, cancellationToken);
        await output.WriteLineAsync("| id | day | status | attempts | total | success | skipped | failed | started (UTC) | finished (UTC) | nodes | error |");
        await output.WriteLineAsync("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var run in found)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"| {run.Id} | {run.SnapshotDay:yyyy-MM-dd} | {JsonSerializer.Serialize(run.Status).Trim('"')} | {run.Attempts} | {run.Total} | {run.Success} | " +
                $"{run.Skipped} | {run.Failed} | {run.StartedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} | {run.FinishedAt?.UtcDateTime:yyyy-MM-dd HH:mm:ss} | {run.Nodes} | {run.Error} |"));
        }
        return 0;
    }

    private static async Task<int> SeedAsync(
        IServiceProvider services, int users, int? activePercent, TextWriter output, CancellationToken cancellationToken)
    {
        if (users <= 0)
        {
            await Console.Error.WriteLineAsync("--users must be a positive number.");
            return 2;
        }
        await CoreServerStartup.PrepareAsync(services, seedEmptyDatabase: false, cancellationToken);
        await using var scope = services.CreateAsyncScope();
        var demo = services.GetRequiredService<IOptions<DemoDataOptions>>().Value;
        var (firstId, lastId) = await CoreServerStartup.AddDemoUsersAsync(
            scope.ServiceProvider, users, activePercent ?? demo.ActivePercent, cancellationToken);
        await output.WriteLineAsync($"Added {users} demo users (ids {firstId}–{lastId}).");
        return 0;
    }
}
