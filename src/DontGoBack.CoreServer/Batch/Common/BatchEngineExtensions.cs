using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Common;

public static class BatchEngineExtensions
{
    /// <summary>
    /// Registers a daily job on the engine: its options section (validated on start), its work,
    /// its runner and its cron trigger. Run history, resume, catch-up, clustering, the manual
    /// trigger (POST /internal/batch/{name}/runs) and the CLI's `runs` and `retry-failed` follow.
    /// </summary>
    public static IHostApplicationBuilder AddDailyJob<TJob, TOptions>(this IHostApplicationBuilder builder, DailyJobDefinition definition)
        where TJob : class, IDailyJob
        where TOptions : DailyJobOptions
    {
        builder.Services.AddOptions<TOptions>()
            .BindConfiguration(definition.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<TOptions>, DailyJobOptionsClockValidator<TOptions>>();
        builder.Services.AddSingleton<IValidateOptions<TOptions>>(
            services => new DailyJobRetiredSettingsValidator<TOptions>(services.GetRequiredService<IConfiguration>(), definition.SectionName));
        builder.Services.AddSingleton(services =>
        {
            var options = services.GetRequiredService<IOptions<TOptions>>();
            return new DailyJobSchedule<TJob>(definition, () => options.Value);
        });
        builder.Services.AddSingleton<DailyJobSchedule>(services => services.GetRequiredService<DailyJobSchedule<TJob>>());
        builder.Services.AddScoped<TJob>();
        builder.Services.AddScoped<DailyJobRunner<TJob>>();
        builder.Services.AddScoped<IBatchJobRunner>(services => services.GetRequiredService<DailyJobRunner<TJob>>());
        builder.AddDailyJobWatch<TJob>(definition.Name);

        // Whether the trigger exists is decided now; its cron and zone come from the validated
        // options when the scheduler is built, so a bad value fails start-up naming the setting.
        var enabled = builder.Configuration.GetSection(definition.SectionName).GetValue<bool?>(nameof(DailyJobOptions.Enabled)) ?? true;
        builder.Services.AddQuartz(quartz =>
        {
            quartz.AddJob<DailyJobFire<TJob>>(job => job.WithIdentity(definition.FireKey).StoreDurably());
            if (!enabled)
                return;
            quartz.AddTrigger((services, trigger) => trigger
                .WithIdentity(definition.CronKey)
                .ForJob(definition.FireKey)
                .WithCronSchedule(services.GetRequiredService<IOptions<TOptions>>().Value.Cron,
                    cron => cron.InTimeZone(services.GetRequiredService<BatchCalendar>().Zone)));
        });
        return builder;
    }

    /// <summary>
    /// Endpoints a domain batch brings along (e.g. what feeds its work), mapped with the engine's
    /// own by <see cref="BatchRunsEndpoints.MapBatchRuns"/>, so adding a batch needs one line in Program.cs.
    /// </summary>
    public static IHostApplicationBuilder AddBatchEndpoints(this IHostApplicationBuilder builder, Action<IEndpointRouteBuilder> map)
    {
        builder.Services.AddSingleton(new BatchEndpoints(map));
        return builder;
    }
}

/// <summary>Endpoints a domain batch registered with <see cref="BatchEngineExtensions.AddBatchEndpoints"/>.</summary>
public sealed record BatchEndpoints(Action<IEndpointRouteBuilder> Map);
