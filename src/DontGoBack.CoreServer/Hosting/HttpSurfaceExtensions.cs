using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// What every HTTP caller meets before an endpoint: errors as problem details whatever went
/// wrong, strict JSON, the client address only from proxies the operator trusts, and a rate
/// limit per address on the public API.
/// </summary>
public static partial class HttpSurfaceExtensions
{
    public const string PublicPathPrefix = "/api";

    public static IHostApplicationBuilder AddHttpSurface(this IHostApplicationBuilder builder)
    {
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
        // Binding failures throw so ProblemExceptionHandler can say what was wrong; otherwise
        // production answers them with an empty 400 and development with an HTML page.
        builder.Services.Configure<RouteHandlerOptions>(routes => routes.ThrowOnBadRequest = true);
        // The web defaults read numbers from strings ("amount": "5"): a caller's typo must not pass as a number.
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.NumberHandling = JsonNumberHandling.Strict);

        builder.Services.AddOptions<ForwardedHeadersSettings>()
            .BindConfiguration(ForwardedHeadersSettings.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<ForwardedHeadersOptions>()
            .Configure<IOptions<ForwardedHeadersSettings>>((forwarded, settings) =>
            {
                forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
                // Only the proxies named here; ASP.NET Core's default trusts loopback.
                forwarded.KnownProxies.Clear();
                forwarded.KnownIPNetworks.Clear();
                foreach (var network in settings.Value.TrustedProxies)
                    forwarded.KnownIPNetworks.Add(InternalAccessOptions.ParseNetwork(network)!.Value);
                // Walk back through every trusted hop to the first address that is not one.
                forwarded.ForwardLimit = null;
            });

        builder.Services.AddOptions<PublicRateLimitOptions>()
            .BindConfiguration(PublicRateLimitOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddRateLimiter(_ => { });
        builder.Services.AddOptions<RateLimiterOptions>()
            .Configure<IOptions<PublicRateLimitOptions>>((limiter, settings) =>
            {
                limiter.GlobalLimiter = PublicApiLimiter(settings.Value);
                limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                limiter.OnRejected = RejectAsync;
            });
        return builder;
    }

    /// <summary>In this order: exceptions and empty error answers become problems, then the client address, then the rate limit.</summary>
    public static IApplicationBuilder UseHttpSurface(this IApplicationBuilder app)
    {
        app.UseExceptionHandler();
        app.Use(RefuseUnknownCharsetAsync);
        app.UseStatusCodePages(context =>
            Results.Problem(statusCode: context.HttpContext.Response.StatusCode, detail: EmptyAnswerDetail(context.HttpContext))
                .ExecuteAsync(context.HttpContext));
        if (app.ApplicationServices.GetRequiredService<IOptions<ForwardedHeadersSettings>>().Value.TrustedProxies.Length > 0)
            app.UseForwardedHeaders();
        app.UseRateLimiter();
        return app;
    }

    /// <summary>
    /// A JSON body declared in a charset .NET does not know is a 415, not the 500 that reading
    /// it would end in (the JSON reader's transcoding throws on an unknown encoding).
    /// </summary>
    private static Task RefuseUnknownCharsetAsync(HttpContext http, RequestDelegate next)
    {
        if (http.Request.HasJsonContentType()
            && MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var mediaType)
            && mediaType.Charset is { Length: > 0 } charset
            && !IsKnownEncoding(charset.ToString().Trim('"')))
        {
            return Results.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported charset",
                detail: "Send the JSON body as UTF-8 (or another charset .NET knows).").ExecuteAsync(http);
        }
        return next(http);
    }

    private static bool IsKnownEncoding(string name)
    {
        try
        {
            Encoding.GetEncoding(name);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static string? EmptyAnswerDetail(HttpContext http) => http.Response.StatusCode switch
    {
        StatusCodes.Status404NotFound => "There is nothing at this address.",
        StatusCodes.Status405MethodNotAllowed => $"This address does not take {http.Request.Method} requests.",
        StatusCodes.Status415UnsupportedMediaType => "Send the body as application/json.",
        _ => null,
    };

    private static PartitionedRateLimiter<HttpContext> PublicApiLimiter(PublicRateLimitOptions settings) =>
        PartitionedRateLimiter.Create<HttpContext, string>(http =>
            !settings.Enabled || !http.Request.Path.StartsWithSegments(PublicPathPrefix)
                ? RateLimitPartition.GetNoLimiter("unlimited")
                : RateLimitPartition.GetTokenBucketLimiter(http.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ =>
                    new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = settings.Burst,
                        TokensPerPeriod = settings.PermitsPerSecond,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    }));

    private static ValueTask RejectAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        rejected.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return new ValueTask(Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many requests",
            detail: $"This address sent more requests than the public API allows; retry after {seconds} s.").ExecuteAsync(rejected.HttpContext));
    }

    /// <summary>A bad request gets what was wrong with it; anything else a 500 problem that tells nothing of the inside, and a log line.</summary>
    private sealed partial class ProblemExceptionHandler(DatabaseWriteRefusals refusals, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
        {
            IResult problem;
            if (exception is BadHttpRequestException bad)
            {
                // The JSON reader names the field and position; the value itself is not echoed.
                var detail = bad.InnerException is JsonException json ? $"{bad.Message} {json.Message}" : bad.Message;
                problem = Results.Problem(statusCode: bad.StatusCode, title: "Invalid request", detail: detail);
            }
            else if (DatabaseFaults.StorageRefusalOf(exception) is { } refusal)
            {
                // The database answers but will not write (read-only, storage full): not our code, and
                // not the caller's; logged once per spell by the refusals, which readiness reports too.
                refusals.Record(refusal, exception);
                http.Response.Headers.RetryAfter = StorageRefusalRetryAfterSeconds;
                problem = Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Database refuses writes",
                    detail: refusal == StorageRefusal.Full
                        ? "The database's storage is full, so nothing was written; try again once an operator has freed space."
                        : "The database is read-only, so nothing was written; try again once an operator has made it writable.");
            }
            else if (DatabaseFaults.IsTransient(exception))
            {
                // The database is down or restarting (not our code): the caller may simply ask again.
                LogDatabaseUnavailable(http.Request.Method, http.Request.Path, DatabaseFaults.Reason(exception));
                http.Response.Headers.RetryAfter = DatabaseRetryAfterSeconds;
                problem = Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Database unavailable",
                    detail: "The database cannot be reached right now; try again shortly.");
            }
            else
            {
                LogUnhandled(exception, http.Request.Method, http.Request.Path);
                problem = Results.Problem(statusCode: StatusCodes.Status500InternalServerError, title: "Unexpected error",
                    detail: "The server could not complete the request; the error is in its log.");
            }
            await problem.ExecuteAsync(http);
            return true;
        }

        private const string DatabaseRetryAfterSeconds = "5";

        /// <summary>A full disk or a read-only database takes an operator, not a restart: longer than an outage's.</summary>
        private const string StorageRefusalRetryAfterSeconds = "60";

        [LoggerMessage(LogLevel.Warning, "Database unavailable answering {Method} {Path}: {Reason}")]
        private partial void LogDatabaseUnavailable(string method, string path, string reason);

        [LoggerMessage(LogLevel.Error, "Unhandled error answering {Method} {Path}")]
        private partial void LogUnhandled(Exception exception, string method, string path);
    }
}
