using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace DontGoBack.Bench;

/// <summary>The core server's `refresh --json` result line.</summary>
internal sealed record RefreshReport(
    DateOnly Day, string Status, int Total, int Success, int Skipped, int Failed, long ElapsedMs, string? Error);

/// <param name="Wall">From process start to exit: start-up, migrations check and shutdown included.</param>
/// <param name="CoreServerCpu">CPU time of the core server process, start-up included.</param>
/// <param name="SimulatorCpu">CPU time the stand-in spent meanwhile.</param>
/// <param name="HistoryDays">Days of history every active user had before the run's day (the opening snapshot included).</param>
/// <param name="StoredBytes">Growth of the tables the job writes over the day, each side measured after VACUUM.</param>
/// <param name="WalBytes">WAL the server wrote while the job ran.</param>
internal sealed record ModeRun(
    RefreshMode Mode, DateOnly Day, int HistoryDays, int ExitCode, RefreshReport Report, TimeSpan Wall, long PeakResidentBytes,
    TimeSpan CoreServerCpu, TimeSpan SimulatorCpu, long StoredBytes, long WalBytes)
{
    /// <summary>Run on the database given <c>--history-days</c> of history, not on the freshly seeded one.</summary>
    public bool AtDepth { get; init; }

    /// <summary>Which database it ran on, as the table and the progress lines name it.</summary>
    public string Database => DatabaseLabel(AtDepth);

    public static string DatabaseLabel(bool atDepth) => atDepth ? "at depth" : "fresh";

    /// <summary>The round it ran in (from 0): the fresh and the deep run of a mode in one round are a pair.</summary>
    public int Round { get; init; }

    public double JobSeconds => Report.ElapsedMs / 1000.0;
}

/// <summary>The core server's `verify` after the runs on one database: its exit code, its summary line and how long the process took.</summary>
internal sealed record VerifyRun(string Database, int ExitCode, string Summary, TimeSpan Wall);

/// <summary>The floor's measurements on one database, one per round; the jobs are compared with their median.</summary>
internal sealed record FloorRuns(IReadOnlyList<TimeSpan> Each)
{
    public TimeSpan Median => Middle.Of(Each);

    public string Describe() => $"{string.Join(", ", Each.Select(f => f.TotalSeconds.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))} s";
}

internal static class Middle
{
    /// <summary>The median: the middle value (of an even count, the upper of the two middle ones).</summary>
    public static T Of<T>(IEnumerable<T> values) where T : IComparable<T>
    {
        var ordered = values.Order().ToArray();
        return ordered[ordered.Length / 2];
    }
}

/// <summary>
/// One benchmark: seed (and, with <c>--history-days</c>, a second database seeded alike and given the
/// history), raw HTTP rate, the floor on each database, then the core server's refresh once per mode
/// and day on each.
/// </summary>
internal static class BenchRun
{
    // The core server's default batch zone: its seed writes the opening snapshot on yesterday there.
    private const string BatchTimeZone = "Asia/Seoul";

    /// <summary>A database the rounds visit: its own days, its own floors.</summary>
    private sealed class Lane(BenchDatabase database, bool atDepth, DateOnly firstDay, int historyDays, int days)
    {
        public BenchDatabase Database => database;
        public bool AtDepth => atDepth;
        public string Label => ModeRun.DatabaseLabel(atDepth);

        /// <summary>Days of job runs; every mode runs on a day of its own.</summary>
        public int Days => days;
        public DateOnly NextDay { get; set; } = firstDay;
        public int HistoryDays { get; set; } = historyDays;
        public List<TimeSpan> Floors { get; } = [];
    }

    public static async Task<int> RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        var openingDay = TodayIn(BatchTimeZone).AddDays(-1);
        await using var fresh = await RecreateSeededAsync(settings, BenchDatabase.FreshName, openingDay, cancellationToken);
        var activeUsers = await fresh.CountActiveUsersAsync(cancellationToken);
        Progress.Say($"{activeUsers:N0} active users");
        await using var deep = settings.HistoryDays > 0
            ? await RecreateSeededAsync(settings, BenchDatabase.DeepName, openingDay, cancellationToken)
            : null;
        if (deep is not null)
        {
            var firstHistoryDay = openingDay.AddDays(1);
            Progress.Say($"history: {settings.HistoryDays} more days for every active user of {deep.Name} from {firstHistoryDay:yyyy-MM-dd}, binary COPY");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await deep.History.AppendAsync(firstHistoryDay, settings.HistoryDays, settings.HistoryWithMarketChanges, cancellationToken);
            Progress.Say($"history: written in {clock.Elapsed.TotalSeconds:F0} s");
            await deep.SettleAsync(cancellationToken);
            if (await deep.CountActiveUsersAsync(cancellationToken) != activeUsers)
                throw new BenchFailedException($"{deep.Name} and {fresh.Name} were seeded alike but count different active users");
        }

        using var simulator = await ExtensionSimulator.StartAsync(
            settings.SimulatorDll, settings.LatencyMs, settings.ErrorRate, settings.BulkSize, cancellationToken);
        Progress.Say($"stand-in extension server at {simulator.BaseUrl} (added latency {settings.LatencyMs} ms, error rate {settings.ErrorRate})");

        Progress.Say($"raw HTTP rate: {settings.RawRequests:N0} update-asset calls, {settings.Concurrency} in flight");
        var raw = await RawHttpRate.MeasureAsync(simulator, settings.RawRequests, settings.Concurrency, settings.Users, cancellationToken);
        Progress.Say($"raw HTTP rate: {raw.RequestsPerSecond:N0} requests/s ({raw.NotOk:N0} answers not 2xx); " +
                     $"CPU s client {raw.ClientCpu.TotalSeconds:F1}, stand-in {raw.SimulatorCpu.TotalSeconds:F1}");

        // Days after each database's newest snapshot, so every run moves every pointer as the daily run does.
        // Only the HTTP trigger refuses a future day; the CLI takes any.
        List<Lane> lanes = [new(fresh, atDepth: false, openingDay.AddDays(1), historyDays: 1, settings.FreshDays)];
        if (deep is not null)
            lanes.Add(new(deep, atDepth: true, openingDay.AddDays(1 + settings.HistoryDays), 1 + settings.HistoryDays, settings.DaysAtDepth));

        // Each phase in rounds, every other round starting with the other database (fresh, deep | deep,
        // fresh | ...): this machine's speed drifts by a fifth over minutes, so the two sides of the
        // depth comparison are measured minutes apart and neither always goes first. The floors come
        // first, all of them: a floor's rows, though rolled back, split the index leaves they reached, and
        // that room would serve the day after it; so on both databases only the first day follows floors.
        for (var round = 0; round < settings.FloorRuns; round++)
        {
            foreach (var lane in InRoundOrder(lanes, round))
            {
                var floor = await lane.Database.MeasureFloorAsync(cancellationToken);
                lane.Floors.Add(floor);
                await lane.Database.SettleAsync(cancellationToken);
                Progress.Say($"floor {lane.Label} {round + 1} of {settings.FloorRuns}: {floor.TotalSeconds:F2} s " +
                             $"(COPY of {activeUsers:N0} snapshots, one pointer UPDATE, rolled back)");
            }
        }
        // A mode's two days of a round run back to back, so its pair is adjacent whatever the other modes do;
        // the order alternates from pair to pair (fresh bulk, deep bulk, deep per-user, fresh per-user, ...).
        var runs = new List<ModeRun>();
        var pair = 0;
        for (var round = 0; round < lanes.Max(l => l.Days); round++)
        {
            foreach (var mode in settings.Modes)
            {
                foreach (var lane in InRoundOrder(lanes, pair++).Where(l => round < l.Days))
                {
                    var run = await RefreshAsync(settings, lane.Database, simulator, mode, lane.NextDay, lane.HistoryDays, cancellationToken);
                    runs.Add(run with { AtDepth = lane.AtDepth, Round = round });
                    (lane.NextDay, lane.HistoryDays) = (lane.NextDay.AddDays(1), lane.HistoryDays + 1);
                }
            }
        }

        var verifies = new List<VerifyRun>();
        foreach (var lane in lanes)
            verifies.Add(await VerifyAsync(settings, lane.Database, cancellationToken));

        var table = new ResultTable(settings, activeUsers, new FloorRuns(lanes[0].Floors),
            lanes.Count > 1 ? new FloorRuns(lanes[1].Floors) : null, raw, runs, verifies, await fresh.ServerVersionAsync(cancellationToken));
        foreach (var warning in table.Warnings)
            Progress.Say($"WARNING: {warning}");
        await Console.Out.WriteAsync(table.ToMarkdown());
        return table.Warnings.Count == 0 ? 0 : 1;
    }

    /// <summary>The databases in turn: the fresh one first in even turns, the deep one in odd ones.</summary>
    private static IEnumerable<Lane> InRoundOrder(IReadOnlyList<Lane> lanes, int turn) =>
        turn % 2 == 0 ? lanes : lanes.Reverse();

    private static async Task<BenchDatabase> RecreateSeededAsync(
        BenchSettings settings, string name, DateOnly openingDay, CancellationToken cancellationToken)
    {
        Progress.Say($"recreating database {name}");
        var database = await BenchDatabase.RecreateAsync(settings.AdminConnectionString, name, cancellationToken);
        try
        {
            Progress.Say($"seeding {name}: {settings.Users:N0} users ({settings.ActivePercent}% active), openings on {openingDay:yyyy-MM-dd}");
            await SeedAsync(settings, database, openingDay, cancellationToken);
            await database.SettleAsync(cancellationToken);
            return database;
        }
        catch
        {
            await database.DisposeAsync();
            throw;
        }
    }

    private static async Task<VerifyRun> VerifyAsync(BenchSettings settings, BenchDatabase database, CancellationToken cancellationToken)
    {
        Progress.Say($"verify {database.Name}: the chain rule over the whole history");
        // A whole-history scan: no command timeout, as for the seed.
        var verified = await DotnetProcess.RunAsync(settings.CoreServerDll, ["verify", "--limit", "5"],
            CoreServerEnvironment(new NpgsqlConnectionStringBuilder(database.ConnectionString) { CommandTimeout = 0 }.ConnectionString),
            cancellationToken);
        EchoOutput($"verify {database.Name}", verified);
        var verify = new VerifyRun(database.Name, verified.ExitCode, LastLine(verified) ?? "no output", verified.Wall);
        Progress.Say($"verify {database.Name}: {verify.Summary} ({verify.Wall.TotalSeconds:F2} s wall)");
        return verify;
    }

    private static async Task SeedAsync(BenchSettings settings, BenchDatabase database, DateOnly openingDay, CancellationToken cancellationToken)
    {
        // The core server creates its schema (any command migrates first; verify on an empty database finds nothing).
        var migrate = await DotnetProcess.RunAsync(settings.CoreServerDll, ["verify"], CoreServerEnvironment(database.ConnectionString), cancellationToken);
        EchoOutput("verify (migration)", migrate);
        if (migrate.ExitCode != 0)
            throw new BenchFailedException($"the core server's verify (to migrate the schema) exited with code {migrate.ExitCode}");
        await database.History.SeedAsync(settings.Users, settings.ActivePercent, openingDay, days: 1, cancellationToken);
    }

    /// <summary>One day of one mode, between two VACUUMs that make its storage growth comparable, with the WAL written while it ran.</summary>
    private static async Task<ModeRun> RefreshAsync(
        BenchSettings settings, BenchDatabase database, ExtensionSimulator simulator, RefreshMode mode, DateOnly day, int historyDays,
        CancellationToken cancellationToken)
    {
        await database.SettleAsync(cancellationToken);
        var bytesBefore = await database.WrittenTablesBytesAsync(cancellationToken);
        Progress.Say($"refresh {mode.Name()} on {database.Name} for {day:yyyy-MM-dd} ({historyDays} days of history)");
        var walBefore = await database.WalPositionAsync(cancellationToken);
        var environment = CoreServerEnvironment(database.ConnectionString);
        var extensionUrl = simulator.BaseUrl.ToString().TrimEnd('/');
        environment["Extension__BaseUrl"] = extensionUrl;
        environment["Auth__BaseUrl"] = extensionUrl;
        environment["Auth__ClientId"] = ExtensionSimulator.ClientId;
        environment["Auth__ClientSecret"] = ExtensionSimulator.ClientSecret;
        environment["AssetRefresh__MaxConcurrency"] = Invariant(settings.Concurrency);
        environment["Extension__MaxInFlight"] = Invariant(settings.Concurrency);
        environment["Extension__BulkSize"] = Invariant(settings.BulkSizeFor(mode));
        environment["Extension__BulkCallsInFlight"] = Invariant(settings.BulkCalls);
        // The bench's days run ahead of today on its own database: the core server allows that only to a load test.
        environment["LoadTest__AllowFutureDays"] = "true";

        var simulatorCpuBefore = simulator.CpuTime;
        var run = await DotnetProcess.RunAsync(
            settings.CoreServerDll, ["refresh", "--day", day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), "--json", "--allow-future-day"],
            environment, cancellationToken);
        var simulatorCpu = simulator.CpuTime - simulatorCpuBefore;
        var walBytes = await database.WalPositionAsync(cancellationToken) - walBefore;
        EchoOutput($"refresh {mode.Name()}", run);
        var writeBack = await database.SettleAsync(cancellationToken);
        Progress.Say($"refresh {mode.Name()}: the machine's write-back left after VACUUM and CHECKPOINT took {writeBack.TotalSeconds:F1} s to sync");
        var storedBytes = await database.WrittenTablesBytesAsync(cancellationToken) - bytesBefore;

        var lastLine = LastLine(run);
        RefreshReport? report;
        try
        {
            report = lastLine is null ? null : JsonSerializer.Deserialize<RefreshReport>(lastLine, JsonSerializerOptions.Web);
        }
        catch (JsonException)
        {
            report = null;
        }
        return report is null
            ? throw new BenchFailedException(
                $"the core server's refresh ({mode.Name()}) exited with code {run.ExitCode} without a JSON result line")
            : Reported(new ModeRun(mode, day, historyDays, run.ExitCode, report, run.Wall, run.PeakResidentBytes, run.CpuTime, simulatorCpu,
                storedBytes, walBytes));
    }

    private static ModeRun Reported(ModeRun run)
    {
        var users = Math.Max(1, run.Report.Success);
        Progress.Say($"refresh {run.Mode.Name()}: {run.Report.Status}, success {run.Report.Success:N0}, failed {run.Report.Failed:N0} " +
                     $"in {run.JobSeconds:F2} s, peak {run.PeakResidentBytes / ResultTable.BytesPerMegabyte:N0} MB; " +
                     $"CPU s core server {run.CoreServerCpu.TotalSeconds:F1}; stored {run.StoredBytes / users:N0} B and WAL {run.WalBytes / users:N0} B per user-day");
        return run;
    }

    private static Dictionary<string, string> CoreServerEnvironment(string connectionString) => new()
    {
        ["Database__Provider"] = "Postgres",
        ["ConnectionStrings__DontGoBack"] = connectionString,
        ["DemoData__UsersOnEmptyDatabase"] = "0",
        ["Logging__LogLevel__Default"] = "Warning",
    };

    /// <summary>A command's result is its last line on standard output.</summary>
    private static string? LastLine(ChildRun run) => run.StandardOutput.LastOrDefault(line => !string.IsNullOrWhiteSpace(line));

    private static void EchoOutput(string command, ChildRun run)
    {
        foreach (var line in run.StandardOutput)
            Console.Error.WriteLine($"[core {command}] {line}");
    }

    private static DateOnly TodayIn(string timeZoneId) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, TimeZoneInfo.FindSystemTimeZoneById(timeZoneId)).DateTime);

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
