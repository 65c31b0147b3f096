using System.Globalization;

namespace DontGoBack.ConsoleBench;

/// <summary>The console's page variants the bench times, and the table of their times.</summary>
public static class ConsolePages
{
    /// <summary>The issue's goal for every page's server time, at the 95th percentile.</summary>
    public const double GoalMilliseconds = 300;

    private const string Root = "/internal/console";

    public static IReadOnlyList<PageRequest> Variants(SeededData seeded)
    {
        var run = $"{Root}/runs/{seeded.FailureRunId}";
        var user = $"{Root}/users/{seeded.HistoryUserId}";
        var yearFrom = seeded.FailureDay.AddDays(-364).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var yearTo = seeded.FailureDay.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        return
        [
            new("Overview", "today and the last 30 days", Root),
            new("Runs", "page 1", $"{Root}/runs"),
            // Ten years of one job: 73 pages of 50, so page 70 is an OFFSET of 3,450 rows.
            new("Runs", "page 70", $"{Root}/runs?p=70"),
            new("Runs", "job + completed_with_failures, one year", $"{Root}/runs?job=asset-refresh&status=completed_with_failures&from={yearFrom}&to={yearTo}"),
            new("Runs", "failed, every day, page 2", $"{Root}/runs?status=failed&p=2"),
            new("Run", "100k failures, unfiltered", run),
            new("Run", "100k failures, after the middle user", $"{run}?after={seeded.FailedUserId}"),
            new("Run", "class=Permanent", $"{run}?class=Permanent"),
            new("Run", "class=Transient, after the middle user", $"{run}?class=Transient&after={seeded.FailedUserId}"),
            new("Run", "user id", $"{run}?user={seeded.FailedUserId}"),
            new("Run", "reason=timeout", $"{run}?reason=timeout"),
            new("Run", "reason matching nothing", $"{run}?reason=no+such+reason"),
            new("Schedule", "every job", $"{Root}/schedule"),
            new("Audit", "newest", $"{Root}/audit"),
            new("Audit", "job, deep keyset page", $"{Root}/audit?job=asset-refresh&before=200"),
            new("User", "interval=day (90 days)", $"{user}?interval=day"),
            new("User", "interval=week", $"{user}?interval=week"),
            new("User", "interval=month", $"{user}?interval=month"),
        ];
    }

    public static void WriteTable(IReadOnlyList<PageTimes> results, TextWriter output)
    {
        output.WriteLine("| page | request | p50 ms | p95 ms | max ms | KB | p95 ≤ 300 ms |");
        output.WriteLine("| --- | --- | ---: | ---: | ---: | ---: | :---: |");
        foreach (var result in results)
        {
            var p95 = result.Percentile(0.95);
            output.WriteLine($"| {result.Request.Page} | {result.Request.Variant} | {result.Percentile(0.5):F1} | {p95:F1} | {result.Milliseconds.Max():F1} | " +
                             $"{result.Bytes / 1024.0:F0} | {(p95 <= GoalMilliseconds ? "yes" : "**no**")} |");
        }
        var missed = results.Where(r => r.Percentile(0.95) > GoalMilliseconds).ToList();
        output.WriteLine();
        output.WriteLine(missed.Count == 0
            ? $"Every page within {GoalMilliseconds:F0} ms at the 95th percentile."
            : $"> **Over {GoalMilliseconds:F0} ms at p95:** {string.Join(", ", missed.Select(m => $"{m.Request.Page} ({m.Request.Variant})"))}");
    }
}
