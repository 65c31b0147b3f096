using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Telemetry;
using Microsoft.Extensions.Options;
using Quartz;

namespace DontGoBack.Batch;

public static class BatchCommonExtensions
{
    /// <summary>The engine every domain batch runs on: the calendar, the scheduler and the run history with its leases.</summary>
    public static IHostApplicationBuilder AddBatchEngine(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<BatchOptions>()
            .BindConfiguration(BatchOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<BatchOptions>, BatchZoneValidator>();
        builder.Services.AddSingleton<BatchCalendar>();
        builder.Services.AddSingleton<BatchJobs>();
        builder.Services.AddScoped<BatchRunLedger>();
        builder.Services.AddScoped<RunLease>();
        builder.Services.AddScoped<RunProgressReader>();
        builder.Services.AddScoped<BatchRunLifecycle>();
        builder.Services.AddSingleton<RunsInFlight>();
        builder.Services.AddHostedService(services => services.GetRequiredService<RunsInFlight>());
        builder.Services.AddSingleton<BatchMetrics>();
        builder.Services.AddSingleton<RunRecorded>();
        builder.Services.AddScoped<DueDays>();
        builder.Services.AddScoped<BatchFanOut>();
        builder.Services.AddHostedService<StartupCatchUp>();
        builder.Services.AddSingleton<SchedulePauseGate>();
        builder.Services.AddScoped<SchedulePauses>();
        builder.Services.AddScoped<OperatorActions>();
        builder.Services.AddSingleton<OperatorRuns>();
        builder.AddDeadlineAlerts();
        var batch = builder.Configuration.GetSection(BatchOptions.SectionName).Get<BatchOptions>() ?? new();
        var provider = DatabaseOptions.ProviderIn(builder.Configuration);
        if (batch.Clustered && provider != DatabaseProvider.Postgres)
        {
            throw new OptionsValidationException(BatchOptions.SectionName, typeof(BatchOptions),
                ["Batch:Clustered=true needs Database:Provider=Postgres: replicas coordinate through Quartz's clustered job store "
                 + "in their shared PostgreSQL database, and an SQLite file belongs to one process."]);
        }
        builder.Services.AddQuartz(quartz =>
        {
            if (!batch.Clustered)
            {
                quartz.UseInMemoryStore();
                return;
            }
            // One more thread than partitions, for the daily trigger itself.
            quartz.UseDefaultThreadPool(batch.PartitionsPerNode + 1);
            // Partitions are scheduled by another node, which cannot wake this one: poll for them
            // at the check-in pace rather than Quartz's idle default of half a minute.
            quartz.ConfigureScheduler(scheduler =>
            {
                scheduler.IdleWaitTime = batch.ClusterCheckinInterval;
                // The node's one name: Quartz's check-ins and firings carry the name runs, attempts,
                // partitions and alerts record, so the console's nodes and a run's partitions agree.
                scheduler.InstanceId = batch.ResolveNodeName();
            });
            quartz.UsePersistentStore(store =>
            {
                // The qrtz_ tables come from our own migrations (QuartzJobStore).
                store.UsePostgres(builder.Configuration.GetConnectionString(DatabaseOptions.ConnectionStringName)!);
                store.UseSystemTextJsonSerializer();
                store.UseClustering(cluster =>
                {
                    cluster.CheckinInterval = batch.ClusterCheckinInterval;
                    cluster.CheckinMisfireThreshold = 3 * batch.ClusterCheckinInterval;
                });
            });
        });
        builder.Services.AddQuartzHostedService(hosted => hosted.WaitForJobsToComplete = true);
        return builder;
    }

    /// <summary>Deadline alerts: raised and resolved by <see cref="DeadlineAlerts"/> as the schedule watch reads each job's standing, posted by <see cref="AlertWebhookSender"/>.</summary>
    private static IHostApplicationBuilder AddDeadlineAlerts(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AlertOptions>()
            .BindConfiguration(AlertOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<AlertSignal>();
        builder.Services.AddScoped<DeadlineAlerts>();
        builder.Services.AddScoped<AbandonedRunRescue>();
        builder.Services.AddHostedService<AlertWebhookSender>();
        builder.Services.AddHttpClient(AlertWebhookSender.ClientName, http => http.DefaultRequestHeaders.UserAgent.ParseAdd("DontGoBack-Alerts/1"))
            // A redirect is an answer to report, not to follow: the receiver is configured, not discovered.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false })
            // Alerts:Timeout bounds each call; the delivery's own backoff does the retrying.
            .ConfigureHttpClient(http => http.Timeout = Timeout.InfiniteTimeSpan);
        return builder;
    }
}
