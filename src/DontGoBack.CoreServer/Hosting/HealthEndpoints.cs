using System.ComponentModel.DataAnnotations;
using System.Text.Encodings.Web;
using System.Text.Json;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Telemetry;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// /health/live answers as long as the process serves requests; /health/ready runs every check
/// tagged <see cref="Readiness.Tag"/> (database, scheduler, cluster check-in, each daily job's schedule).
/// Healthy and Degraded answer 200, Unhealthy 503; the body names each check's status.
/// </summary>
public static class HealthEndpoints
{
    public const string LivePath = "/health/live";
    public const string ReadyPath = "/health/ready";

    public static IHostApplicationBuilder AddHealth(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<HealthStateLog>();
        // The default service logs a warning per degraded check on every probe (a probe every 10 s floods the log);
        // HealthStateLog says each change of state once instead.
        builder.Logging.AddFilter(HealthStateLog.DefaultServiceCategory, LogLevel.None);
        var checks = builder.Services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", HealthStatus.Unhealthy, [Readiness.Tag], Readiness.CheckTimeout)
            .AddCheck<SchedulerHealthCheck>("scheduler", HealthStatus.Unhealthy, [Readiness.Tag], Readiness.CheckTimeout);
        if (builder.Configuration.GetSection(BatchOptions.SectionName).Get<BatchOptions>()?.Clustered == true)
            checks.AddCheck<ClusterNodeHealthCheck>("cluster-node", HealthStatus.Unhealthy, [Readiness.Tag], Readiness.CheckTimeout);
        return builder;
    }

    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks(LivePath, new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync })
            .WithTags(ApiDescription.Tags.Health)
            .WithSummary("Whether the process serves requests (liveness)")
            .WithDescription("Runs no check: it answers 200 with status `Healthy` and no checks as long as the process serves requests, "
                + "so a restart is the only cure for no answer. Needs no credentials; any method is answered as GET.")
            .Answers(StatusCodes.Status200OK, typeof(HealthBody), "application/json", "The process serves requests: status `Healthy`, no checks.");
        app.MapHealthChecks(ReadyPath, new HealthCheckOptions { Predicate = check => check.Tags.Contains(Readiness.Tag), ResponseWriter = WriteAsync })
            .WithTags(ApiDescription.Tags.Health)
            .WithSummary("Whether the server is ready to work (readiness)")
            .WithDescription("Runs every readiness check: `database` (reachable, every migration applied; Degraded when it refuses writes), "
                + "`scheduler` (running, not in standby), `cluster-node` when clustered (this node checks in), and one per daily job "
                + "(`asset-refresh`, `user-dormancy`: its schedule and its days; late, owed or below its success ratio is Degraded, never "
                + "Unhealthy). The overall status is the worst check's. Healthy and Degraded answer 200, Unhealthy 503, with the same report: "
                + "each check's status, description, duration and data (times with the batch zone's offset, `null` for no value). "
                + "A check that takes longer than 5 s counts as Unhealthy. Needs no credentials and tells no exception's text; any method is answered as GET.")
            .Answers(StatusCodes.Status200OK, typeof(HealthBody), "application/json", "Healthy or Degraded: the report.")
            .Answers(StatusCodes.Status503ServiceUnavailable, typeof(HealthBody), "application/json", "Unhealthy: the report, naming the failing checks.");
        return app;
    }

    /// <summary>
    /// The web defaults, but with a `+` written as itself: times read `+09:00`, not `\u002B09:00`. The
    /// relaxed encoder leaves HTML's characters unescaped too, which is safe here: the answer is
    /// application/json, never embedded in a page.
    /// </summary>
    private static readonly JsonSerializerOptions BodyJson = new(JsonSerializerOptions.Web) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The overall status and each check's status, description and data; never an exception's text, since probes need no credentials.</summary>
    private static Task WriteAsync(HttpContext http, HealthReport report)
    {
        http.RequestServices.GetRequiredService<HealthStateLog>().Observe(report);
        http.Response.ContentType = "application/json; charset=utf-8";
        var body = new HealthBody(report.Status.ToString(), Math.Round(report.TotalDuration.TotalMilliseconds, 1),
            report.Entries.ToDictionary(e => e.Key, e => new CheckBody(
                e.Value.Status.ToString(), e.Value.Description, Math.Round(e.Value.Duration.TotalMilliseconds, 1),
                e.Value.Data.Count > 0 ? e.Value.Data : null)));
        return JsonSerializer.SerializeAsync(http.Response.Body, body, BodyJson, http.RequestAborted);
    }

    /// <summary>The health report.</summary>
    /// <param name="Status">The worst check's status: Healthy, Degraded or Unhealthy.</param>
    /// <param name="DurationMs">How long the checks took, in milliseconds.</param>
    /// <param name="Checks">Each check by name (empty for /health/live).</param>
    public sealed record HealthBody(
        [property: AllowedValues("Healthy", "Degraded", "Unhealthy")] string Status, double DurationMs, IReadOnlyDictionary<string, CheckBody> Checks);

    /// <summary>One check of the report.</summary>
    /// <param name="Status">Healthy, Degraded or Unhealthy.</param>
    /// <param name="Description">What the check found, for people; null when it says nothing.</param>
    /// <param name="DurationMs">How long the check took, in milliseconds.</param>
    /// <param name="Data">What the check measured (e.g. a job's last day, a node's last check-in), or null.</param>
    public sealed record CheckBody(
        [property: AllowedValues("Healthy", "Degraded", "Unhealthy")] string Status, string? Description, double DurationMs,
        IReadOnlyDictionary<string, object>? Data);
}

/// <summary>
/// Logs each health check's change of status once, as the probes see it: a check that turns Degraded is a
/// warning, Unhealthy an error, back to Healthy an information, and the same status probe after probe says
/// nothing more. Only the status counts, not the description, which may change on every probe (a check-in's age).
/// </summary>
public sealed partial class HealthStateLog(ILogger<HealthStateLog> logger)
{
    public const string DefaultServiceCategory = "Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService";

    private readonly Dictionary<string, HealthStatus> _last = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public void Observe(HealthReport report)
    {
        foreach (var (name, entry) in report.Entries)
        {
            HealthStatus previous;
            lock (_gate)
            {
                // A check never seen before counts as Healthy: a server that starts healthy logs nothing.
                previous = _last.GetValueOrDefault(name, HealthStatus.Healthy);
                _last[name] = entry.Status;
            }
            if (previous == entry.Status)
                continue;
            var description = entry.Description ?? entry.Exception?.Message ?? "";
            switch (entry.Status)
            {
                case HealthStatus.Unhealthy:
                    LogUnhealthy(name, previous, description);
                    break;
                case HealthStatus.Degraded:
                    LogDegraded(name, previous, description);
                    break;
                default:
                    LogHealthy(name, previous, description);
                    break;
            }
        }
    }

    [LoggerMessage(LogLevel.Error, "Health check {Check} is Unhealthy (was {Previous}): {Description}")]
    private partial void LogUnhealthy(string check, HealthStatus previous, string description);

    [LoggerMessage(LogLevel.Warning, "Health check {Check} is Degraded (was {Previous}): {Description}")]
    private partial void LogDegraded(string check, HealthStatus previous, string description);

    [LoggerMessage(LogLevel.Information, "Health check {Check} is Healthy again (was {Previous}): {Description}")]
    private partial void LogHealthy(string check, HealthStatus previous, string description);
}
