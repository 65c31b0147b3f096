namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>The registered daily jobs, the one source of job names for run history, the trigger and the CLI.</summary>
public sealed class BatchJobs(IEnumerable<DailyJobSchedule> schedules)
{
    public IReadOnlyList<DailyJobSchedule> All { get; } = schedules.ToList();

    /// <summary>Every name runs are recorded under, subsets included.</summary>
    public IReadOnlyList<string> RunNames => All.SelectMany(j => j.Definition.RunNames).ToList();

    /// <summary>The job that records runs under this name (its own or its subset's), or null.</summary>
    public DailyJobDefinition? FindByRunName(string name) =>
        All.Select(j => j.Definition).FirstOrDefault(d => d.RunNames.Contains(name, StringComparer.Ordinal));
}
