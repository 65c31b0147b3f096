using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Asset.Scheduler;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Persistence;
using Microsoft.Extensions.Options;
using Npgsql;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Asset;

public static class AssetBatchExtensions
{
    /// <summary>Registers the daily asset refresh: options, use case, job and its cron trigger.</summary>
    public static IHostApplicationBuilder AddAssetBatch(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AssetRefreshOptions>()
            .BindConfiguration(AssetRefreshOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddSingleton<AssetRefreshStore>(services =>
            services.GetRequiredService<IOptions<DatabaseOptions>>().Value.Provider switch
            {
                DatabaseProvider.Postgres => new PostgresAssetRefreshStore(
                    services.GetRequiredService<NpgsqlDataSource>(), services.GetRequiredService<DatabaseRetry>()),
                _ => new SqliteAssetRefreshStore(services.GetRequiredService<SqliteDatabase>(), services.GetRequiredService<DatabaseRetry>()),
            });
        builder.Services.AddScoped<RefreshAssetsUseCase>();
        builder.Services.AddScoped<AssetRefreshJob>();
        builder.Services.AddScoped<IBatchRunFailures, AssetRefreshFailures>();
        foreach (var name in AssetRefreshJob.Names)
            builder.Services.AddSingleton(new BatchJobName(name));
        builder.Services.AddHostedService<StartupCatchUp>();
        builder.Services.AddScoped<AssetRefreshFanOut>();
        builder.AddDailyJobWatch<AssetRefreshSchedule>(AssetRefreshJob.Name);

        // Whether the trigger exists is decided now; its cron and zone come from the validated
        // options when the scheduler is built, so a bad value fails start-up naming the setting.
        var enabled = builder.Configuration.GetSection(AssetRefreshOptions.SectionName).Get<AssetRefreshOptions>()?.Enabled ?? true;
        builder.Services.AddQuartz(quartz =>
        {
            quartz.AddJob<DailyAssetRefreshScheduler>(job => job.WithIdentity(DailyAssetRefreshScheduler.JobKey).StoreDurably());
            if (!enabled)
                return;
            quartz.AddTrigger((services, trigger) =>
            {
                var refresh = services.GetRequiredService<IOptions<AssetRefreshOptions>>().Value;
                trigger.WithIdentity(DailyAssetRefreshScheduler.TriggerKey)
                    .ForJob(DailyAssetRefreshScheduler.JobKey)
                    .WithCronSchedule(refresh.Cron, cron => cron.InTimeZone(refresh.ResolveZone()));
            });
        });
        return builder;
    }

    /// <summary>The daily refresh's schedule as its options say, for the health check and the schedule gauges.</summary>
    private sealed class AssetRefreshSchedule(IOptions<AssetRefreshOptions> options) : IDailyJobSchedule
    {
        public DailySchedule Current
        {
            get
            {
                var refresh = options.Value;
                return new DailySchedule(AssetRefreshJob.Name, refresh.Enabled, refresh.Cron, refresh.ResolveZone(), refresh.CompleteBy,
                    $"{AssetRefreshOptions.SectionName}:{nameof(AssetRefreshOptions.CompleteBy)}");
            }
        }
    }

    public static IEndpointRouteBuilder MapAssetBatch(this IEndpointRouteBuilder app)
    {
        app.MapInternalBatchGroup().MapManualRefresh();
        return app;
    }
}
