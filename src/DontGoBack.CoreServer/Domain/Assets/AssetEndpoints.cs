using System.Globalization;
using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Domain.Assets;

public static class AssetEndpoints
{
    /// <summary>Longest span one series request may cover, so a single call cannot scan a user's whole history.</summary>
    public const int MaxSeriesDays = 3_700;

    public static IHostApplicationBuilder AddAssets(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AssetColourOptions>()
            .BindConfiguration(AssetColourOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<AssetColourPolicy>();
        builder.Services.AddScoped<AssetAdjustments>();
        return builder;
    }

    public static IEndpointRouteBuilder MapAssets(this IEndpointRouteBuilder app)
    {
        app.MapInternalGroup("/users").MapPost("/{userId:long}/asset-adjustments", AdjustAsync);
        app.MapGet("/api/users/{userId:long}/asset-series", SeriesAsync);
        return app;
    }

    private static async Task<IResult> AdjustAsync(
        long userId, AdjustmentRequest request, AssetAdjustments adjustments, CancellationToken cancellationToken) =>
        await adjustments.ApplyAsync(userId, request, cancellationToken) switch
        {
            AdjustmentOutcome.Applied applied => Results.Ok(applied.Result),
            AdjustmentOutcome.Replayed replayed => Results.Ok(replayed.Result),
            AdjustmentOutcome.UserNotFound => Results.Problem(statusCode: StatusCodes.Status404NotFound,
                title: "No such user", detail: $"User {userId} does not exist."),
            AdjustmentOutcome.Rejected rejected => Results.Problem(statusCode: rejected.StatusCode, title: rejected.Title, detail: rejected.Detail),
            var other => throw new InvalidOperationException($"unhandled adjustment outcome {other}"),
        };

    private static async Task<IResult> SeriesAsync(
        long userId, string? from, string? to, string? interval, DontGoBackDbContext db, AssetColourPolicy colours,
        IOptions<AssetRefreshOptions> refresh, TimeProvider time, CancellationToken cancellationToken)
    {
        var today = BatchDay.Today(time, refresh.Value.ResolveZone());
        if (!TryParseDay(to, today, out var last) || !TryParseDay(from, last.AddDays(-29), out var first))
            return BadRequest("from and to must be dates in the form YYYY-MM-DD.");
        if (first > last || last.DayNumber - first.DayNumber >= MaxSeriesDays)
            return BadRequest($"from must not be after to, and the span at most {MaxSeriesDays} days.");
        if (!AssetSeries.TryParseInterval(interval, out var seriesInterval))
            return BadRequest($"interval '{interval}' is not day, week or month.");

        var user = await db.Users.AsNoTracking().Where(u => u.Id == userId)
            .Select(u => new { Current = u.CurrentSnapshot == null ? (long?)null : u.CurrentSnapshot.ClosingAmount })
            .SingleOrDefaultAsync(cancellationToken);
        if (user is null)
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such user", detail: $"User {userId} does not exist.");

        var days = await db.DailyAssetSnapshots.AsNoTracking()
            .Where(s => s.UserId == userId && s.SnapshotDay >= first && s.SnapshotDay <= last)
            .OrderBy(s => s.SnapshotDay)
            .Select(s => new DailySnapshotPoint(s.SnapshotDay, s.ClosingAmount, s.MarketMultiplier, s.NetFlow))
            .ToListAsync(cancellationToken);
        return Results.Ok(new AssetSeriesResponse(
            userId, first, last, seriesInterval.ToString().ToLowerInvariant(),
            user.Current is { } balance ? AssetNickname.Format(balance) : null,
            AssetSeries.Build(days, seriesInterval, colours)));
    }

    private static bool TryParseDay(string? text, DateOnly fallback, out DateOnly day)
    {
        day = fallback;
        return string.IsNullOrEmpty(text)
               || BatchDay.TryParse(text, out day);
    }

    private static IResult BadRequest(string detail) =>
        Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid series request", detail: detail);

    private sealed record AssetSeriesResponse(
        long UserId, DateOnly From, DateOnly To, string Interval, string? Nickname, IReadOnlyList<AssetSeriesPoint> Points);
}
