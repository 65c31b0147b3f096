using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.CoreServer.Hosting;

namespace DontGoBack.CoreServer.Batch;

/// <summary>Where the engine's endpoints live in this server: under /internal/batch, behind the internal guard.</summary>
public static class BatchEngineEndpoints
{
    /// <summary>The engine's runs and operator actions in the guarded /internal/batch group, and the endpoints each job brings.</summary>
    public static IEndpointRouteBuilder MapBatchRuns(this IEndpointRouteBuilder app)
    {
        var batch = app.MapInternalBatchGroup();
        // One /internal/batch prefix, two areas of the reference: the runs, and the operators' actions on them.
        batch.MapGroup("").WithTags(ApiDescription.Tags.BatchRuns).MapBatchRunEndpoints();
        batch.MapGroup("").WithTags(ApiDescription.Tags.Operator).MapOperatorActions();
        app.ServiceProvider.GetRequiredService<BatchJobs>().MapEndpoints(app);
        return app;
    }

    /// <summary>The /internal/batch route group, guarded by <see cref="InternalAccessMiddleware"/>.</summary>
    public static RouteGroupBuilder MapInternalBatchGroup(this IEndpointRouteBuilder app) => app.MapInternalGroup("/batch");
}
