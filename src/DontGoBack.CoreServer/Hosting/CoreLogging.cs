using Polly.Telemetry;

namespace DontGoBack.CoreServer.Hosting;

public static class CoreLogging
{
    /// <param name="isCommand">A CLI command: every log line goes to standard error, standard output holds only the result.</param>
    public static IHostApplicationBuilder AddCoreLogging(this IHostApplicationBuilder builder, bool isCommand)
    {
        if (isCommand)
            builder.Logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);

        builder.Services.AddSingleton<ResilienceEventLog>();
        // Unnamed: applies to the telemetry of every resilience pipeline, whatever its name.
        builder.Services.AddOptions<TelemetryOptions>(name: null).Configure<ResilienceEventLog>((telemetry, eventLog) =>
        {
            telemetry.SeverityProvider = ResilienceEventLog.Severity;
            telemetry.TelemetryListeners.Add(eventLog);
        });
        return builder;
    }
}
