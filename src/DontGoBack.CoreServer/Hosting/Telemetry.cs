using DontGoBack.Batch.Telemetry;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace DontGoBack.CoreServer.Hosting;

public sealed class TelemetrySettings
{
    public const string SectionName = "Telemetry";

    /// <summary>The Prometheus scrape endpoint at /metrics (internal callers only).</summary>
    public bool Prometheus { get; set; } = true;
}

/// <summary>
/// OpenTelemetry metrics and traces: our batch meter and activity source, ASP.NET Core, the HTTP
/// client, Npgsql, the .NET runtime and the resilience pipelines' Polly meter. Metrics are scraped
/// at /metrics; with OTEL_EXPORTER_OTLP_ENDPOINT set, metrics, traces and logs also go out over OTLP
/// (the standard OTEL_* variables configure it).
/// </summary>
public static class Telemetry
{
    public const string MetricsPath = "/metrics";
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The meter of Polly, which Microsoft.Extensions.Http.Resilience reports the pipelines' retries, timeouts and circuit to.</summary>
    public const string ResilienceMeter = "Polly";

    private const string PollyPipelineDuration = "resilience.polly.pipeline.duration";
    private const string PollyAttemptDuration = "resilience.polly.strategy.attempt.duration";

    public static IHostApplicationBuilder AddTelemetry(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<TelemetrySettings>().BindConfiguration(TelemetrySettings.SectionName).ValidateOnStart();
        var settings = builder.Configuration.GetSection(TelemetrySettings.SectionName).Get<TelemetrySettings>() ?? new();
        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration[OtlpEndpointVariable]);

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Environment.ApplicationName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(BatchMetrics.MeterName, ResilienceMeter)
                    // Polly's events (retries, timeouts, the circuit) are kept; its duration of every
                    // call and every attempt repeats http.client.request.duration and our extension-call
                    // histogram, at two more recordings per call. Dropped, they are never recorded.
                    .AddView(PollyPipelineDuration, MetricStreamConfiguration.Drop)
                    .AddView(PollyAttemptDuration, MetricStreamConfiguration.Drop)
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation()
                    .AddNpgsqlInstrumentation();
                if (settings.Prometheus)
                    metrics.AddPrometheusExporter();
            });
        // Traces only when they go somewhere: every extension call is a span, not worth making for nobody.
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing
                .AddSource(BatchMetrics.ActivitySourceName)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddNpgsql());
            telemetry.UseOtlpExporter();
        }
        return builder;
    }

    public static IEndpointRouteBuilder MapTelemetry(this IEndpointRouteBuilder app)
    {
        if (app.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<TelemetrySettings>>().Value.Prometheus)
        {
            app.MapPrometheusScrapingEndpoint(MetricsPath).RequireInternalAccess()
                .WithTags(ApiDescription.Tags.Health)
                .WithSummary("The metrics, for a Prometheus scrape")
                .WithDescription("Our meter (`dontgoback_*`: runs and their durations, users by outcome, rate and users remaining, extension calls, chunk writes, alerts, the schedule) "
                    + "and the runtime's, ASP.NET Core's and the HTTP client's, in the Prometheus text exposition format (OpenMetrics when the "
                    + "scraper asks for it). Internal callers only, like /internal. Telemetry:Prometheus false leaves it unmapped.")
                .Answers(StatusCodes.Status200OK, typeof(string), "text/plain", "The metrics in the Prometheus text format.")
                .ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden);
        }
        return app;
    }
}
