using DontGoBack.CoreServer.Hosting;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Common;

public static class BatchCommonExtensions
{
    /// <summary>What every domain batch shares: the scheduler and the per-day run gate.</summary>
    public static IHostApplicationBuilder AddBatchCommon(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<DayRunGate>();
        builder.Services.AddQuartz(quartz => quartz.UseInMemoryStore());
        builder.Services.AddQuartzHostedService(hosted => hosted.WaitForJobsToComplete = true);
        return builder;
    }

    /// <summary>The /internal/batch route group, guarded by <see cref="InternalAccessFilter"/>.</summary>
    public static RouteGroupBuilder MapInternalBatchGroup(this IEndpointRouteBuilder app) => app.MapInternalGroup("/batch");
}
