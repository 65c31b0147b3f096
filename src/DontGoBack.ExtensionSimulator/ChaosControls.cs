using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using DontGoBack.MarketSimulation;

namespace DontGoBack.ExtensionSimulator;

/// <summary>
/// The chaos campaign's hold on the stand-in (bench/chaos.sh), off unless Chaos:CallLog is set: a fault the
/// campaign switches on and off over loopback (POST /chaos/fault?kind=…), and a log of every update call as
/// the stand-in answered it, which the campaign's oracle reads instead of the core server's own reports.
/// </summary>
public static class ChaosControls
{
    public const string SectionName = "Chaos";
    public const string FaultPath = "/chaos/fault";
    public const string FlushPath = "/chaos/flush";

    public static bool IsEnabled(IConfiguration configuration) => configuration[$"{SectionName}:CallLog"] is { Length: > 0 };

    public static IHostApplicationBuilder AddChaosControls(this IHostApplicationBuilder builder)
    {
        var path = builder.Configuration[$"{SectionName}:CallLog"]!;
        builder.Services.AddSingleton(new ChaosFault());
        builder.Services.AddSingleton(services => new CallLog(path, services.GetRequiredService<TimeProvider>()));
        builder.Services.AddHostedService(services => services.GetRequiredService<CallLog>());
        return builder;
    }

    /// <summary>Ahead of the endpoints: the fault answers first, and every update call's answer is logged.</summary>
    public static WebApplication UseChaosControls(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            var fault = http.RequestServices.GetRequiredService<ChaosFault>();
            var path = http.Request.Path.Value ?? "";
            if (path == SimulatorEndpoints.TokenPath && fault.Kind == ChaosFaultKind.AuthOutage)
            {
                http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }
            if (!path.StartsWith(SimulatorEndpoints.UpdateAssetPath + "/", StringComparison.Ordinal)
                || !long.TryParse(path.AsSpan(SimulatorEndpoints.UpdateAssetPath.Length + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var userId))
            {
                await next(http);
                return;
            }
            var day = await DayOfAsync(http.Request, http.RequestAborted);
            var log = http.RequestServices.GetRequiredService<CallLog>();
            switch (fault.Kind)
            {
                case ChaosFaultKind.ServerErrors:
                    http.Response.StatusCode = StatusCodes.Status500InternalServerError;
                    await http.Response.WriteAsJsonAsync(ApiResponse.Failure("Unexpected error occurred."), http.RequestAborted);
                    log.Record(userId, day, 500);
                    return;
                case ChaosFaultKind.Throttled:
                    http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                    http.Response.Headers.RetryAfter = "1";
                    log.Record(userId, day, 429);
                    return;
                case ChaosFaultKind.ConnectionResets:
                    log.Record(userId, day, 0);
                    http.Abort();
                    return;
                case ChaosFaultKind.AuthOutage:
                    http.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    log.Record(userId, day, 401);
                    return;
                case ChaosFaultKind.Latency:
                    await Task.Delay(fault.LatencyMs, http.RequestAborted);
                    break;
            }
            await next(http);
            var status = http.Response.StatusCode;
            log.Record(userId, day, status,
                status == StatusCodes.Status200OK && day is { } answered ? http.RequestServices.GetRequiredService<MarketMoveRule>().MultiplierFor(userId, answered) : null);
        });

        app.MapPost(FaultPath, (string kind, int? latencyMs, ChaosFault fault) =>
        {
            if (!Enum.TryParse<ChaosFaultKind>(kind, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed))
                return Results.Problem(detail: $"kind must be one of {string.Join(", ", Enum.GetNames<ChaosFaultKind>())}", statusCode: 400);
            fault.Set(parsed, latencyMs ?? 2_000);
            return Results.NoContent();
        });
        app.MapPost(FlushPath, async (CallLog log, CancellationToken cancellationToken) =>
        {
            await log.FlushAsync(cancellationToken);
            return Results.NoContent();
        });
        return app;
    }

    /// <summary>The day the call asks for, read from a buffered body that the endpoint then reads again; null when it has none.</summary>
    private static async Task<DateOnly?> DayOfAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        request.EnableBuffering();
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancellationToken);
            return body.RootElement.TryGetProperty("snapshotDay", out var day) && day.ValueKind == JsonValueKind.String
                   && DateOnly.TryParseExact(day.GetString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed)
                ? parsed
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
        finally
        {
            request.Body.Position = 0;
        }
    }
}

public enum ChaosFaultKind
{
    None,
    ServerErrors,
    Latency,
    ConnectionResets,
    Throttled,
    AuthOutage,
}

/// <summary>The fault in force now; one at a time, as the campaign's timeline switches them.</summary>
public sealed class ChaosFault
{
    private volatile Holder _current = new(ChaosFaultKind.None, 0);

    public ChaosFaultKind Kind => _current.Kind;

    public int LatencyMs => _current.LatencyMs;

    public void Set(ChaosFaultKind kind, int latencyMs) => _current = new Holder(kind, Math.Clamp(latencyMs, 0, 60_000));

    private sealed record Holder(ChaosFaultKind Kind, int LatencyMs);
}

/// <summary>
/// One line per update call, as answered: user,day,status,multiplier,at (status 0: the connection was reset; the
/// multiplier only on a 200; at: when it was answered, UTC, to line the log up with the servers' logs). Written by
/// one background writer so the calls never wait on the file.
/// </summary>
public sealed class CallLog(string path, TimeProvider time) : BackgroundService
{
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _writing = new(1, 1);
    private StreamWriter? _writer;

    public void Record(long userId, DateOnly? day, int status, double? multiplier = null) =>
        _lines.Writer.TryWrite(string.Create(CultureInfo.InvariantCulture,
            $"{userId},{day?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)},{status},{multiplier?.ToString("R", CultureInfo.InvariantCulture)},{time.GetUtcNow():HH:mm:ss.fff}"));

    /// <summary>Writes out every line recorded before the call.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken);
        try
        {
            await DrainAsync(cancellationToken);
        }
        finally
        {
            _writing.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _writer = new StreamWriter(path, append: true, new UTF8Encoding(false));
        try
        {
            while (await _lines.Reader.WaitToReadAsync(stoppingToken))
                await FlushAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        await FlushAsync(CancellationToken.None);
        await _writer.DisposeAsync();
    }

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        if (_writer is null)
            return;
        while (_lines.Reader.TryRead(out var line))
            await _writer.WriteLineAsync(line.AsMemory(), cancellationToken);
        await _writer.FlushAsync(cancellationToken);
    }
}
