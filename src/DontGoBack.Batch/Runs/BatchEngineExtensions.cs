using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Telemetry;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.Batch.Runs;

public static class BatchEngineExtensions
{
    /// <summary>
    /// Registers a daily job on the engine, once: its options section (validated on start), its work,
    /// its runner, its cron trigger and the endpoints it brings (<paramref name="endpoints"/>, mapped with the
    /// engine's own, <see cref="BatchRunsEndpoints.MapBatchRunEndpoints"/>, by the host). Run history, resume, catch-up, clustering,
    /// the manual trigger (POST /internal/batch/{name}/runs) and the CLI's `run`, `runs` and `retry-failed` follow,
    /// each finding the job through <see cref="BatchJobs"/>.
    /// </summary>
    public static IHostApplicationBuilder AddDailyJob<TJob, TOptions>(
        this IHostApplicationBuilder builder, DailyJobDefinition definition, Action<IEndpointRouteBuilder>? endpoints = null)
        where TJob : class, IDailyJob
        where TOptions : DailyJobOptions =>
        builder.RegisterDailyJob<TJob, TOptions>(definition, failures: null, endpoints);

    /// <summary>
    /// <see cref="AddDailyJob{TJob, TOptions}"/> for a job that records its per-item failures: <typeparamref name="TFailures"/>
    /// is what its runs' pages, the runs API and the console's user page show of them, a back-fill's subset runs' too.
    /// </summary>
    public static IHostApplicationBuilder AddDailyJob<TJob, TOptions, TFailures>(
        this IHostApplicationBuilder builder, DailyJobDefinition definition, Action<IEndpointRouteBuilder>? endpoints = null)
        where TJob : class, IDailyJob
        where TOptions : DailyJobOptions
        where TFailures : class, IBatchRunFailures
    {
        builder.Services.AddScoped<TFailures>();
        return builder.RegisterDailyJob<TJob, TOptions>(definition, typeof(TFailures), endpoints);
    }

    private static IHostApplicationBuilder RegisterDailyJob<TJob, TOptions>(
        this IHostApplicationBuilder builder, DailyJobDefinition definition, Type? failures, Action<IEndpointRouteBuilder>? endpoints)
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
            return new DailyJobSchedule<TJob>(definition, () => options.Value) { Failures = failures, Endpoints = endpoints };
        });
        builder.Services.AddSingleton<DailyJobSchedule>(services => services.GetRequiredService<DailyJobSchedule<TJob>>());
        builder.Services.AddScoped<TJob>();
        builder.Services.AddScoped<DailyJobRunner<TJob>>();
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
}
