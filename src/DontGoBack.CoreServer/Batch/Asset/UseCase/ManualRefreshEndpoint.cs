using System.Globalization;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Common;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Batch.Asset.UseCase;

/// <summary>POST /internal/batch/asset-refresh/runs?snapshotDay=YYYY-MM-DD: runs one day on demand and answers its result.</summary>
public static class ManualRefreshEndpoint
{
    public static RouteHandlerBuilder MapManualRefresh(this IEndpointRouteBuilder internalBatch) =>
        internalBatch.MapPost("/asset-refresh/runs", RunAsync).Produces<BatchResult>()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

    private static async Task<IResult> RunAsync(
        string? snapshotDay, AssetRefreshJob job, IOptions<AssetRefreshOptions> options, IOptions<BatchOptions> batch, TimeProvider time)
    {
        var today = BatchDay.Today(time, options.Value.ResolveZone());
        var day = today;
        if (!string.IsNullOrEmpty(snapshotDay)
            && !BatchDay.TryParseWithin(snapshotDay, "snapshotDay", batch.Value.EarliestDay, today, out day, out var problem))
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid snapshotDay",
                detail: day > today ? $"{problem} Today is {today:yyyy-MM-dd} in {options.Value.TimeZone}; {day:yyyy-MM-dd} has not begun." : problem);
        }

        BatchResult? result;
        try
        {
            // Not the request's token: a client or proxy giving up must not abort the day.
            // Shutdown still stops the run (the job watches it).
            result = await job.TryRunAsync(day, CancellationToken.None);
        }
        catch (OperationCanceledException)
        {
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Run stopped",
                detail: $"The asset refresh for {day:yyyy-MM-dd} stopped before it was through (shutdown or a lost lease); it is recorded as aborted and resumes on the next start or trigger.");
        }
        if (result is null)
        {
            return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Already running",
                detail: $"The asset refresh for {day:yyyy-MM-dd} is already running.");
        }
        if (result.Status == BatchRunStatus.Failed)
        {
            // A dependency (extension, auth server or database) stopped the run: the result rides along for the counts.
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Run failed",
                detail: $"The asset refresh for {day:yyyy-MM-dd} failed: {result.Error}",
                extensions: new Dictionary<string, object?> { ["result"] = result });
        }
        return Results.Json(result);
    }
}
