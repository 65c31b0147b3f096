using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace DontGoBack.CoreServer.AdminConsole.Pages;

/// <summary>Today per job (status, live progress, deadline), the last 30 days, and the cluster's nodes with their work in flight.</summary>
public sealed class IndexModel(ConsoleReader reader, ClusterWorkReader cluster, BatchCalendar calendar) : PageModel
{
    public IReadOnlyList<JobToday> Jobs { get; private set; } = [];

    /// <summary>The cluster's nodes, each with its partitions in flight.</summary>
    public ClusterView Cluster { get; private set; } = new(false, [], []);

    public TimeZoneInfo Zone => calendar.Zone;

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Jobs = await reader.OverviewAsync(cancellationToken);
        Cluster = await cluster.ReadAsync(cancellationToken);
    }

    /// <summary>
    /// The data of a job's 30-day chart, each day over all its attempts: the seconds spent working on it, and the share of the
    /// users due that day that came out done (none for a day with nothing to do).
    /// </summary>
    public static object ChartData(JobToday job) => new
    {
        labels = job.LastDays.Select(d => ConsoleFormat.Day(d.Day)[5..]).ToArray(),
        seconds = job.LastDays.Select(d => d.Run is { Status: not BatchRunStatus.Running } run
            ? Math.Round(job.Days[run.Id].WorkingMs / 1000.0, 1) : (double?)null).ToArray(),
        ratio = job.LastDays.Select(d => d.Run is { Status: not (BatchRunStatus.Running or BatchRunStatus.NothingToDo) } run && job.Days[run.Id] is { Total: > 0 } day
            ? Math.Round(100.0 * day.DoneRatio, 2) : (double?)null).ToArray(),
    };
}
