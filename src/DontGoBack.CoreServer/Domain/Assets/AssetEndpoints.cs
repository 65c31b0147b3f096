using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.Batch.Http;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Npgsql;

namespace DontGoBack.CoreServer.Domain.Assets;

public static class AssetEndpoints
{
    /// <summary>Longest span one series request may cover, so a single call cannot scan a user's whole history.</summary>
    public const int MaxSeriesDays = 3_700;

    /// <summary>Days a series covers when the request names no start.</summary>
    public const int DefaultSeriesDays = 30;

    public static IHostApplicationBuilder AddAssets(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AssetColourOptions>()
            .BindConfiguration(AssetColourOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<AssetColourPolicy>();
        builder.Services.AddScoped<AssetAdjustments>();
        builder.Services.AddScoped<AssetChainVerifier>();
        builder.Services.AddOptions<HistoryOptions>()
            .BindConfiguration(HistoryOptions.SectionName)
            .PostConfigure<IHostEnvironment>((history, host) =>
                history.ArchiveDirectory = HistoryOptions.ResolveArchiveDirectory(history.ArchiveDirectory, host.ContentRootPath))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<HistoryOptions>, RetiredAssetHistorySettingsValidator>();
        builder.Services.AddSingleton<IValidateOptions<HistoryOptions>, ArchiveDirectoryValidator>();
        builder.Services.AddScoped<AssetHistoryRetention>();
        builder.Services.AddScoped<AssetHistoryLifecycle>();
        builder.Services.AddScoped<HistoryArchive>();
        builder.Services.AddScoped<RolledUpMonths>();
        builder.Services.AddScoped<HistoryPartitions>();
        builder.Services.AddScoped<HistoryLayoutMigration>();
        builder.Services.AddScoped<AssetChangeHistory>();
        // The connection source is resolved once here, not on every request.
        builder.Services.AddSingleton(services => services.GetRequiredService<IOptions<DatabaseOptions>>().Value.Provider switch
        {
            DatabaseProvider.Postgres => PostgresReader(services.GetRequiredKeyedService<NpgsqlDataSource>(DatabaseOptions.PublicReadPool),
                services.GetRequiredService<AssetColourPolicy>()),
            _ => SqliteReader(services.GetRequiredService<SqliteDatabase>(), services.GetRequiredService<AssetColourPolicy>()),
        });
        if (DatabaseOptions.ProviderIn(builder.Configuration) == DatabaseProvider.Postgres)
            builder.Services.AddHostedService<SeriesReadWarmUp>();
        builder.AddSeriesCache();
        return builder;
    }

    private static AssetSeriesReader PostgresReader(NpgsqlDataSource reads, AssetColourPolicy colours) =>
        new(async token => await reads.OpenConnectionAsync(token), aggregatesInDatabase: true, colours);

    private static AssetSeriesReader SqliteReader(SqliteDatabase database, AssetColourPolicy colours) =>
        new(async token => await database.OpenAsync(token), aggregatesInDatabase: false, colours);

    public static IEndpointRouteBuilder MapAssets(this IEndpointRouteBuilder app)
    {
        app.MapInternalGroup("/users").WithTags(ApiDescription.Tags.Assets)
            .MapPost("/{userId:long}/asset-adjustments", AdjustAsync)
            // Answered before the handler, when the body is not JSON.
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .WithSummary("Adjust a user's asset by hand")
            .WithDescription("Adds `amount` (negative to take away) to the user's latest asset as a new link in its change chain, "
                + "with a `reason` for the history. An `idempotencyKey` makes a retry safe: the same key with the same body answers "
                + "the first result again; with another body, 409. The body is JSON (else 415) and must be valid (else 400); "
                + "an unknown user is 404, a user with no asset yet 409, a user whose balance lies in a month already rolled up "
                + "(History:KeepDailyMonths) 409, and a balance that would leave its range 422.");
        app.MapGet("/api/users/{userId:long}/asset-series", SeriesAsync).CacheOutput(SeriesCache.PolicyName)
            // The body is written as bytes so its ETag is the hash of exactly what is sent: its type is stated here.
            .Produces<AssetSeriesResponse>()
            // Answered before the handler, by the public rate limit.
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .WithTags(ApiDescription.Tags.Assets)
            .WithSummary("Read a user's asset graph")
            .WithDescription($"The public profile graph: the user's asset per day, week or month (`interval`, default day) from `from` to `to` "
                + $"(days as YYYY-MM-DD in the batch zone; `to` defaults to today, `from` to {DefaultSeriesDays} days before it). "
                + $"`from` must not be after `to`, the span is at most {MaxSeriesDays} days and neither may be after today or before the "
                + "earliest supported day (400). Dormant, suspended and closed accounts answer 404 as if absent. The answer carries a strong "
                + "ETag and `Cache-Control: no-cache`: send `If-None-Match` for a 304. Callers are rate-limited per address (429).");
        return app;
    }

    private static async Task<Results<Ok<AdjustmentResult>, Problem<ProblemStatus.BadRequest>, Problem<ProblemStatus.NotFound>,
        Problem<ProblemStatus.Conflict>, Problem<ProblemStatus.UnprocessableEntity>>> AdjustAsync(
        long userId, AdjustmentRequest request, AssetAdjustments adjustments, CancellationToken cancellationToken) =>
        await adjustments.ApplyAsync(userId, request, cancellationToken) switch
        {
            AdjustmentOutcome.Applied applied => TypedResults.Ok(applied.Result),
            AdjustmentOutcome.Replayed replayed => TypedResults.Ok(replayed.Result),
            AdjustmentOutcome.UserNotFound => new Problem<ProblemStatus.NotFound>("No such user", $"User {userId} does not exist."),
            AdjustmentOutcome.Rejected { Reason: AdjustmentRejection.Invalid } rejected =>
                new Problem<ProblemStatus.BadRequest>("Invalid adjustment", rejected.Detail),
            AdjustmentOutcome.Rejected { Reason: AdjustmentRejection.IdempotencyKeyReused } rejected =>
                new Problem<ProblemStatus.Conflict>("Idempotency key reused", rejected.Detail),
            AdjustmentOutcome.Rejected { Reason: AdjustmentRejection.NoAssetYet } rejected =>
                new Problem<ProblemStatus.Conflict>("No asset yet", rejected.Detail),
            AdjustmentOutcome.Rejected { Reason: AdjustmentRejection.MonthRolledUp } rejected =>
                new Problem<ProblemStatus.Conflict>("Month rolled up", rejected.Detail),
            AdjustmentOutcome.Rejected { Reason: AdjustmentRejection.OutOfRange } rejected =>
                new Problem<ProblemStatus.UnprocessableEntity>("Asset would go out of range", rejected.Detail),
            AdjustmentOutcome.Rejected rejected => throw new InvalidOperationException($"unhandled adjustment rejection {rejected.Reason}"),
            var other => throw new InvalidOperationException($"unhandled adjustment outcome {other}"),
        };

    private static async Task<Results<FileContentHttpResult, StatusCodeHttpResult, Problem<ProblemStatus.BadRequest>, Problem<ProblemStatus.NotFound>>> SeriesAsync(
        long userId, string? from, string? to, string? interval, AssetSeriesReader reader, IOptions<JsonOptions> json, HttpContext http,
        BatchCalendar calendar, CancellationToken cancellationToken)
    {
        var today = calendar.Today;
        var earliest = calendar.EarliestDay;
        var last = today;
        if (!string.IsNullOrEmpty(to) && !calendar.TryParseDay(to, "to", out last, out var toProblem))
            return BadRequest(toProblem);
        var first = last.DayNumber - DefaultSeriesDays + 1 < earliest.DayNumber ? earliest : last.AddDays(-DefaultSeriesDays + 1);
        if (!string.IsNullOrEmpty(from) && !calendar.TryParseDay(from, "from", out first, out var fromProblem))
            return BadRequest(fromProblem);
        if (first > last || last.DayNumber - first.DayNumber >= MaxSeriesDays)
            return BadRequest($"from must not be after to, and the span at most {MaxSeriesDays} days.");
        if (!AssetSeries.TryParseInterval(interval, out var seriesInterval))
            return BadRequest($"interval must be day, week or month.");

        // Only visible profiles: a dormant, suspended or closed account answers as if it did not exist.
        if (await reader.ReadAsync(userId, first, last, seriesInterval, cancellationToken) is not { } series)
            return new Problem<ProblemStatus.NotFound>("No such user", $"There is no visible profile {userId}.");

        var body = JsonSerializer.SerializeToUtf8Bytes(
            new AssetSeriesResponse(userId, first, last, seriesInterval.ToString().ToLowerInvariant(), series.Nickname, series.Points),
            json.Value.SerializerOptions);
        // Strong by construction: the tag is a hash of the very bytes sent, so two answers share
        // it only when they are identical, whatever wrote the rows behind them.
        var etag = new EntityTagHeaderValue($"\"{Convert.ToHexStringLower(SHA256.HashData(body), 0, 12)}\"");
        var headers = http.Response.GetTypedHeaders();
        headers.ETag = etag;
        // Any reward may change the graph at any moment, so no age is safe: clients and proxies
        // keep it, but ask each time, and a 304 costs no body (and no database when cached here).
        headers.CacheControl = new CacheControlHeaderValue { Public = true, NoCache = true };
        if (http.Request.GetTypedHeaders().IfNoneMatch is { Count: > 0 } held
            && held.Any(tag => tag.Equals(EntityTagHeaderValue.Any) || tag.Compare(etag, useStrongComparison: false)))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }
        return TypedResults.Bytes(body, "application/json; charset=utf-8");
    }

    private static Problem<ProblemStatus.BadRequest> BadRequest(string detail) => new("Invalid series request", detail);

    private sealed record AssetSeriesResponse(
        long UserId, DateOnly From, DateOnly To, string Interval, string? Nickname, IReadOnlyList<AssetSeriesPoint> Points);
}
