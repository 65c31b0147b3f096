using DontGoBack.Batch.Storage;
using System.Diagnostics.CodeAnalysis;

namespace DontGoBack.Batch.Runs;

/// <summary>
/// The registered daily jobs: the one place a name — a job's, or a name its runs are recorded under,
/// such as a back-fill's subset — is resolved to a job, and an unknown name refused, for run history,
/// the trigger, the operators' actions, the console and the CLI alike.
/// </summary>
public sealed class BatchJobs(IEnumerable<DailyJobSchedule> schedules)
{
    /// <summary>How much of an unknown name a refusal quotes back, whatever was sent.</summary>
    public const int QuotedNameLength = 40;

    public IReadOnlyList<DailyJobSchedule> All { get; } = schedules.ToList();

    /// <summary>The jobs' own names, in registration order.</summary>
    public IReadOnlyList<string> Names => All.Select(j => j.Definition.Name).ToList();

    /// <summary>Every name runs are recorded under, subsets included.</summary>
    public IReadOnlyList<string> RunNames => All.SelectMany(j => j.Definition.RunNames).ToList();

    /// <summary>The job of this name (its own name: a subset's is not a job to run, pause or retry), or the refusal to show.</summary>
    public bool TryFind(string? name, [NotNullWhen(true)] out DailyJobSchedule? job, [NotNullWhen(false)] out string? refusal)
    {
        job = All.FirstOrDefault(j => string.Equals(j.Definition.Name, name, StringComparison.Ordinal));
        refusal = job is null ? Unknown(name) : null;
        return job is not null;
    }

    /// <summary>The job of a name checked already (a command line's parsed `--job`); an unknown one is a bug here.</summary>
    public DailyJobSchedule Find(string? name) => TryFind(name, out var job, out var refusal) ? job : throw new ArgumentException(refusal, nameof(name));

    /// <summary>The job that records runs under this name (its own or its subset's), or the refusal to show.</summary>
    public bool TryFindRun(string? runName, [NotNullWhen(true)] out DailyJobSchedule? job, [NotNullWhen(false)] out string? refusal)
    {
        job = All.FirstOrDefault(j => runName is not null && j.Definition.RunNames.Contains(runName, StringComparer.Ordinal));
        refusal = job is null ? Unknown(runName) : null;
        return job is not null;
    }

    /// <summary>
    /// The one refusal of a name that is no job, naming the registered ones and the names their subsets' runs are
    /// recorded under: "there is no job 'x'; the jobs are asset-refresh (some users only: asset-refresh-subset), user-dormancy".
    /// </summary>
    public string Unknown(string? name) =>
        $"there is no job '{StoredText.Clean(name, QuotedNameLength)}'; the jobs are "
        + string.Join(", ", All.Select(j => j.Definition.SubsetName is { } subset ? $"{j.Definition.Name} (some users only: {subset})" : j.Definition.Name));

    /// <summary>The per-item failures of the job whose run this is (a subset's run finds its job's); null when the job keeps none.</summary>
    public IBatchRunFailures? FailuresOf(BatchRun run, IServiceProvider scope) =>
        TryFindRun(run.JobName, out var job, out _) ? job.FailuresIn(scope) : null;

    /// <summary>Maps the endpoints each job brings (<see cref="DailyJobSchedule.Endpoints"/>): the one place they are mapped.</summary>
    public void MapEndpoints(IEndpointRouteBuilder app)
    {
        foreach (var job in All)
            job.Endpoints?.Invoke(app);
    }
}
