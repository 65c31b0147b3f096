using System.CommandLine;
using System.CommandLine.Parsing;
using DontGoBack.CoreServer.Cli;

namespace DontGoBack.Bench;

internal static class BenchCommand
{
    private const int DefaultRawRequestCap = 200_000;

    public static async Task<int> InvokeAsync(string[] args)
    {
        var connection = new Option<string>("--connection")
        {
            Description = "Connection string of the PostgreSQL server (any database); the bench's databases are recreated on it",
            Required = true,
        };
        var coreDll = ExistingFile("--core-dll", "DontGoBack.CoreServer.dll, built in Release");
        var simulatorDll = ExistingFile("--simulator-dll", "DontGoBack.ExtensionSimulator.dll, built in Release");
        var users = IntOption("--users", "Users seeded", 1_000_000, 1, int.MaxValue);
        var activePercent = IntOption("--active-percent", "Share of them that is ACTIVE", 90, 1, 100);
        var modes = new Option<string>("--modes")
        {
            Description = "Comma-separated refresh modes to run, in order: bulk, per-user",
            DefaultValueFactory = _ => "bulk,per-user",
        };
        OptionChecks.Check(modes, (result, text) =>
        {
            if (ParseModes(text) is { Error: { } error })
                result.AddError(error);
        });
        var latencyMs = IntOption("--latency-ms", "Latency the stand-in adds to every update call", 0, 0, 60_000);
        var errorRate = new Option<double>("--error-rate")
        {
            Description = "Share of update calls the stand-in answers with HTTP 500",
            DefaultValueFactory = _ => 0,
        };
        OptionChecks.Check(errorRate, (result, rate) =>
        {
            if (rate is < 0 or > 1)
                result.AddError("--error-rate must be between 0 and 1.");
        });
        // 4096 is the core server's own cap on AssetRefresh:MaxConcurrency.
        var concurrency = IntOption("--concurrency", "Per-user extension calls in flight (and the raw HTTP rate's)", 256, 1, 4_096);
        var bulkSize = IntOption("--bulk-size", "Users per update-assets call in bulk mode", 1_000, 1, 10_000);
        var bulkCalls = IntOption("--bulk-calls", "update-assets calls in flight in bulk mode", 4, 1, 256);
        var rawRequests = new Option<int?>("--raw-requests")
        {
            Description = $"Requests for the raw HTTP rate; default the user count, at most {DefaultRawRequestCap:N0}",
        };
        OptionChecks.Check(rawRequests, (result, requests) =>
        {
            if (requests is <= 0)
                result.AddError("--raw-requests must be positive.");
        });

        var floorRuns = IntOption("--floor-runs", "Times the floor is measured on each database, before any job; the table gives the median (it moves a lot between runs here)", 3, 1, 15);
        var freshDays = IntOption("--fresh-days", "Days the modes run one after the other on the seeded database; the table gives each mode's median too", 1, 1, 30);
        var historyDays = IntOption("--history-days", "Days of history for every active user of a second database seeded alike; its days alternate with the fresh database's (0: none)", 0, 0, 3_650);
        var daysAtDepth = IntOption("--days-at-depth", "Days the modes run one after the other on the database with the history, the i-th paired with the fresh database's i-th (up to --fresh-days)", 1, 1, 30);
        var historyMarketChanges = new Option<bool>("--history-market-changes")
        {
            Description = "The added history also gets a market change per user and day, as the refresh wrote it before market moves lived in the snapshots alone",
        };

        var root = new RootCommand("Benchmarks the core server's daily asset refresh against PostgreSQL and the stand-in extension server; prints one markdown table")
        {
            connection, coreDll, simulatorDll, users, activePercent, modes, latencyMs, errorRate, concurrency, bulkSize, bulkCalls, rawRequests, floorRuns, freshDays, historyDays, daysAtDepth, historyMarketChanges,
        };
        root.SetAction((parsed, cancellationToken) =>
        {
            var userCount = parsed.GetValue(users);
            var settings = new BenchSettings(
                parsed.GetValue(connection)!,
                Path.GetFullPath(parsed.GetValue(coreDll)!.FullName),
                Path.GetFullPath(parsed.GetValue(simulatorDll)!.FullName),
                userCount,
                parsed.GetValue(activePercent),
                ParseModes(parsed.GetValue(modes)!).Modes,
                parsed.GetValue(latencyMs),
                parsed.GetValue(errorRate),
                parsed.GetValue(concurrency),
                parsed.GetValue(bulkSize),
                parsed.GetValue(bulkCalls),
                parsed.GetValue(rawRequests) ?? Math.Min(userCount, DefaultRawRequestCap),
                parsed.GetValue(historyDays),
                parsed.GetValue(historyMarketChanges),
                parsed.GetValue(floorRuns),
                parsed.GetValue(daysAtDepth),
                parsed.GetValue(freshDays));
            return RunReportingFailureAsync(settings, cancellationToken);
        });
        // Children are killed on the way out; give that a moment after Ctrl+C.
        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(10) });
    }

    private static async Task<int> RunReportingFailureAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            return await BenchRun.RunAsync(settings, cancellationToken);
        }
        catch (BenchFailedException e)
        {
            Progress.Say($"FAILED: {e.Message}");
            return 1;
        }
    }

    private static Option<int> IntOption(string name, string description, int defaultValue, int min, int max)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        return OptionChecks.Check(option, (result, value) =>
        {
            if (value < min || value > max)
                result.AddError($"{name} must be between {min} and {max}.");
        });
    }

    private static Option<FileInfo> ExistingFile(string name, string description)
    {
        var option = new Option<FileInfo>(name) { Description = description, Required = true };
        return OptionChecks.Check(option, (result, file) =>
        {
            if (file is { Exists: false })
                result.AddError($"{name} {file.FullName} does not exist; build it first (bench/run.sh does).");
        });
    }

    private static (IReadOnlyList<RefreshMode> Modes, string? Error) ParseModes(string text)
    {
        var modes = new List<RefreshMode>();
        foreach (var name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (RefreshModes.TryParse(name) is not { } mode)
                return ([], $"--modes: unknown mode '{name}'; use {string.Join(" or ", RefreshModes.All.Select(m => m.Name()))}.");
            if (modes.Contains(mode))
                return ([], $"--modes: '{name}' is given twice.");
            modes.Add(mode);
        }
        return modes.Count == 0 ? ([], "--modes needs at least one mode.") : (modes, null);
    }
}
