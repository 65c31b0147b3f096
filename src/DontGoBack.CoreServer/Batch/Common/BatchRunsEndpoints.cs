using System.Globalization;
using DontGoBack.CoreServer.Hosting;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>GET /internal/batch/runs and /internal/batch/runs/{id}: the run history, with a run's failures paged.</summary>
public static class BatchRunsEndpoints
{
    public const int MaxPageSize = 500;

    public static IEndpointRouteBuilder MapBatchRuns(this IEndpointRouteBuilder app)
    {
        var runs = app.MapInternalBatchGroup();
        runs.MapGet("/runs", ListAsync).Produces<IEnumerable<RunView>>().ProducesProblem(StatusCodes.Status400BadRequest);
        runs.MapGet("/runs/{id:long}", GetAsync).Produces<RunDetail>()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>Pages beyond this are refused, so an offset can never overflow (at most 500 million rows in).</summary>
    public const int MaxPage = 1_000_000;

    private static async Task<IResult> ListAsync(
        string? job, string? from, string? to, BatchRunLedger ledger, IEnumerable<IBatchRunFailures> jobs, IEnumerable<BatchJobName> known,
        IOptions<BatchOptions> batch, CancellationToken cancellationToken)
    {
        var knownNames = known.Select(k => k.Name).ToArray();
        if (job is not null && !knownNames.Contains(job))
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Unknown job",
                detail: $"job must be one of: {string.Join(", ", knownNames)}.");
        }
        // Open-ended by default; a bound given is a real day within the supported range. Runs of
        // future days (load tests) are listed by leaving "to" out.
        var (first, last) = (DateOnly.MinValue, DateOnly.MaxValue);
        var earliest = batch.Value.EarliestDay;
        var latest = DateOnly.MaxValue;
        if ((!string.IsNullOrEmpty(from) && !BatchDay.TryParseWithin(from, "from", earliest, latest, out first, out var problem))
            || (!string.IsNullOrEmpty(to) && !BatchDay.TryParseWithin(to, "to", earliest, latest, out last, out problem)))
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid range", detail: problem);
        var names = job is null ? jobs.Select(j => j.JobName).ToArray() : [job];
        var found = new List<BatchRun>();
        foreach (var name in names)
            found.AddRange(await ledger.ListAsync(name, first, last, cancellationToken));
        return Results.Ok(found.OrderByDescending(r => r.SnapshotDay).ThenBy(r => r.JobName).Select(RunView.Of));
    }

    private static async Task<IResult> GetAsync(
        long id, int? page, int? pageSize, BatchRunLedger ledger, IEnumerable<IBatchRunFailures> jobs, CancellationToken cancellationToken)
    {
        if (page is < 1 or > MaxPage || pageSize is < 1 or > MaxPageSize)
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid page", detail: $"page is 1 to {MaxPage}; pageSize is 1 to {MaxPageSize}.");
        if (await ledger.FindAsync(id, cancellationToken) is not { } run)
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such run", detail: $"There is no run {id}.");
        var failures = jobs.FirstOrDefault(j => j.JobName == run.JobName) is { } source
            ? await source.PageAsync(run.SnapshotDay, page ?? 1, pageSize ?? 100, cancellationToken)
            : null;
        return Results.Ok(new RunDetail(RunView.Of(run), failures));
    }

    public sealed record RunView(
        long Id, string Job, DateOnly SnapshotDay, BatchRunStatus Status, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt,
        DateTimeOffset HeartbeatAt, IReadOnlyList<string> Nodes, int Attempts, int Total, int Success, int Skipped, int Failed, string? Error)
    {
        public static RunView Of(BatchRun run) => new(
            run.Id, run.JobName, run.SnapshotDay, run.Status, run.StartedAt, run.FinishedAt, run.HeartbeatAt,
            run.Nodes.Split(',', StringSplitOptions.RemoveEmptyEntries), run.Attempts, run.Total, run.Success, run.Skipped, run.Failed, run.Error);
    }

    public sealed record RunDetail(RunView Run, BatchRunFailurePage? Failures);
}
