using DontGoBack.CoreServer.Hosting;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Common;

public static class BatchCommonExtensions
{
    /// <summary>What every domain batch shares: the scheduler and the run history with its leases.</summary>
    public static IHostApplicationBuilder AddBatchCommon(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<BatchOptions>()
            .BindConfiguration(BatchOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddScoped<BatchRunLedger>();
        builder.Services.AddScoped<DueDays>();
        builder.Services.AddQuartz(quartz => quartz.UseInMemoryStore());
        builder.Services.AddQuartzHostedService(hosted => hosted.WaitForJobsToComplete = true);
        return builder;
    }

    /// <summary>The /internal/batch route group, guarded by <see cref="InternalAccessFilter"/>.</summary>
    public static RouteGroupBuilder MapInternalBatchGroup(this IEndpointRouteBuilder app) => app.MapInternalGroup("/batch");
}
