using System.Globalization;
using System.Text;

namespace DontGoBack.Bench;

/// <summary>The run's one markdown table, a row per mode, and what looked wrong.</summary>
internal sealed class ResultTable(
    BenchSettings settings, int activeUsers, FloorRuns floor, FloorRuns? floorAtDepth, RawHttpResult raw, IReadOnlyList<ModeRun> runs,
    IReadOnlyList<VerifyRun> verifies, string postgresVersion)
{
    public const double BytesPerMegabyte = 1024 * 1024;

    private static readonly string[] Columns =
    [
        "mode", "database", "history days", "users (active)", "latency ms", "calls in flight", "bulk size", "job s", "wall s", "users/s", "peak MB",
        "floor s", "job/floor", "raw HTTP req/s", "job users/s ÷ raw req/s",
        "stored B/user-day", "WAL B/user-day", "success", "failed",
    ];

    /// <summary>Runs that did not account for every active user exactly once, or did not finish.</summary>
    public IReadOnlyList<string> Warnings { get; } =
    [
        .. runs.SelectMany(run => WarningsFor(run, activeUsers)),
        .. verifies.Where(v => v.ExitCode != 0).Select(v => $"verify on {v.Database} exited with code {v.ExitCode}: {v.Summary}"),
    ];

    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine(Row(Columns));
        text.AppendLine(Row(Columns.Select((_, i) => i == 0 ? "---" : "---:")));
        // Ran in rounds, shown by database: the fresh one's days, then the deep one's.
        foreach (var run in runs.OrderBy(r => r.AtDepth).ThenBy(r => r.Day))
            text.AppendLine(Row(Cells(run)));
        text.AppendLine();
        foreach (var warning in Warnings)
            text.AppendLine($"> **WARNING** {warning}");
        if (Warnings.Count > 0)
            text.AppendLine();
        text.AppendLine(
            $"Error rate {settings.ErrorRate}; raw HTTP rate over {raw.Requests:N0} update-asset calls ({raw.NotOk:N0} not 2xx); " +
            $"days, in the order they ran: {string.Join(", ", runs.Select(r => $"{r.Day:yyyy-MM-dd} ({r.Mode.Name()}, {r.Database})"))}.");
        // Per unit of work, so modes and the raw rate compare whatever their counts: where the time goes on a shared machine.
        text.AppendLine(
            $"CPU ms per 1,000 users (core server, start-up included, + stand-in): " +
            $"{string.Join("; ", runs.Select(r => $"{r.Mode.Name()} {r.Database} {r.Day:MM-dd} {PerThousand(r.CoreServerCpu, r.Report.Success + r.Report.Failed)} + {PerThousand(r.SimulatorCpu, r.Report.Success + r.Report.Failed)}"))}; " +
            $"raw HTTP per 1,000 calls (client + stand-in): {PerThousand(raw.ClientCpu, raw.Requests)} + {PerThousand(raw.SimulatorCpu, raw.Requests)}.");
        text.AppendLine(
            $"Stored B/user-day: growth of {string.Join(", ", BenchDatabase.WrittenTables)} (heap, indexes, TOAST; pg_total_relation_size) " +
            "over the day, VACUUM before and after, ÷ users written; WAL B/user-day: WAL written while the job ran ÷ users written " +
            "(the bench's server runs with full_page_writes off, so production writes more).");
        foreach (var line in MedianLines())
            text.AppendLine(line);
        text.AppendLine($"Floor s: the median of {floor.Each.Count} measurements on the fresh database ({floor.Describe()}), " +
                        "each after VACUUM ANALYZE, CHECKPOINT and sync; a row's job/floor uses its own database's floor.");
        if (floorAtDepth is not null)
        {
            var paired = floor.Each.Zip(floorAtDepth.Each, (fresh, deep) => deep / fresh).ToArray();
            text.AppendLine($"Floor at depth s, on the database with the history, in the same rounds: median {floorAtDepth.Median.TotalSeconds:F2} " +
                            $"of {floorAtDepth.Describe()}; ÷ the fresh floor {floorAtDepth.Median.TotalSeconds / floor.Median.TotalSeconds:F2}; " +
                            $"round by round {Ratios(paired)}, median {Middle.Of(paired):F2}.");
        }
        foreach (var verify in verifies)
            text.AppendLine($"Chain check of {verify.Database} after the runs (`verify`, whole history): {verify.Summary}; {verify.Wall.TotalSeconds:F2} s wall.");
        text.AppendLine(
            $"Machine: {Environment.ProcessorCount} logical CPUs, {TotalMemoryGibibytes():F1} GiB RAM; .NET {Environment.Version}; " +
            $"PostgreSQL {postgresVersion}; {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        return text.ToString();
    }

    private IEnumerable<string> Cells(ModeRun run)
    {
        var jobSeconds = run.JobSeconds;
        var usersPerSecond = jobSeconds > 0 ? run.Report.Success / jobSeconds : double.NaN;
        return
        [
            run.Mode.Name(),
            run.Database,
            $"{run.HistoryDays}",
            $"{settings.Users:N0} ({activeUsers:N0})",
            $"{settings.LatencyMs}",
            $"{settings.CallsInFlight(run.Mode)}",
            run.Mode == RefreshMode.Bulk ? $"{settings.BulkSize:N0}" : "—",
            $"{jobSeconds:F2}",
            $"{run.Wall.TotalSeconds:F2}",
            double.IsFinite(usersPerSecond) ? $"{usersPerSecond:N0}" : "—",
            $"{run.PeakResidentBytes / BytesPerMegabyte:N0}",
            $"{FloorOf(run).Median.TotalSeconds:F2}",
            $"{jobSeconds / FloorOf(run).Median.TotalSeconds:F2}×",
            $"{raw.RequestsPerSecond:N0}",
            double.IsFinite(usersPerSecond) ? $"{usersPerSecond / raw.RequestsPerSecond:F2}" : "—",
            run.Report.Success > 0 ? $"{(double)run.StoredBytes / run.Report.Success:N0}" : "—",
            run.Report.Success > 0 ? $"{(double)run.WalBytes / run.Report.Success:N0}" : "—",
            $"{run.Report.Success:N0}",
            $"{run.Report.Failed:N0}",
        ];
    }

    private FloorRuns FloorOf(ModeRun run) => run.AtDepth ? floorAtDepth! : floor;

    /// <summary>
    /// Per mode run on more than one day (<c>--fresh-days</c>, <c>--days-at-depth</c>): the median job
    /// against its database's median floor, so one noisy day on this shared machine does not make the
    /// figure; and the depth's cost two ways: the ratio of the two medians, and the median of the ratios
    /// of each round's pair (the mode's deep and fresh day of a round run back to back).
    /// </summary>
    private IEnumerable<string> MedianLines()
    {
        foreach (var mode in settings.Modes)
        {
            var fresh = runs.Where(r => r.Mode == mode && !r.AtDepth).ToArray();
            var deep = runs.Where(r => r.Mode == mode && r.AtDepth).ToArray();
            if (fresh.Length < 2 && deep.Length == 0)
                continue;
            var parts = new List<string>();
            if (fresh.Length > 0)
                parts.Add($"fresh database {MedianJob(fresh):F2} s ({fresh.Length} days) = {MedianJob(fresh) / floor.Median.TotalSeconds:F2}× its floor");
            if (deep.Length > 0)
                parts.Add($"after {settings.HistoryDays} days of history {MedianJob(deep):F2} s ({deep.Length} days) = " +
                          $"{MedianJob(deep) / floorAtDepth!.Median.TotalSeconds:F2}× its floor, {MedianJob(deep) / floor.Median.TotalSeconds:F2}× the fresh floor");
            if (fresh.Length > 0 && deep.Length > 0)
            {
                parts.Add($"depth ÷ fresh {MedianJob(deep) / MedianJob(fresh):F2}");
                var paired = fresh.Join(deep, f => f.Round, d => d.Round, (f, d) => d.JobSeconds / f.JobSeconds).ToArray();
                if (paired.Length > 0)
                    parts.Add($"round by round {Ratios(paired)}, median {Middle.Of(paired):F2}");
            }
            yield return $"Median job s, {mode.Name()}: {string.Join("; ", parts)}.";
        }
    }

    private static double MedianJob(IEnumerable<ModeRun> runs) => Middle.Of(runs.Select(r => r.JobSeconds));

    private static string Ratios(IEnumerable<double> ratios) =>
        string.Join(", ", ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture)));

    private static IEnumerable<string> WarningsFor(ModeRun run, int activeUsers)
    {
        var report = run.Report;
        var which = $"{run.Mode.Name()} on {run.Day:yyyy-MM-dd} ({run.Database})";
        if (report.Success + report.Failed != activeUsers)
        {
            yield return
                $"{which}: success {report.Success:N0} + failed {report.Failed:N0} = {report.Success + report.Failed:N0}, " +
                $"but {activeUsers:N0} users are active (total {report.Total:N0}, skipped {report.Skipped:N0}).";
        }
        if (report.Status == "failed" || run.ExitCode != 0)
            yield return $"{which}: the run {report.Status} with exit code {run.ExitCode}: {report.Error ?? "no error given"}.";
    }

    private static string PerThousand(TimeSpan cpu, int count) => count > 0 ? $"{cpu.TotalMilliseconds * 1000 / count:N0}" : "—";

    private static string Row(IEnumerable<string> cells) => $"| {string.Join(" | ", cells)} |";

    private static double TotalMemoryGibibytes()
    {
        // "MemTotal:       24608748 kB"
        var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        var kilobytes = long.Parse(line["MemTotal:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        return kilobytes / (1024.0 * 1024.0);
    }
}
