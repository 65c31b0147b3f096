using System.Globalization;
using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

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
            AdjustmentOutcome.Rejected rejected => RejectionProblem(rejected),
            var other => throw new InvalidOperationException($"unhandled adjustment outcome {other}"),
        };

    private static IResult RejectionProblem(AdjustmentOutcome.Rejected rejected)
    {
        var (status, title) = rejected.Reason switch
        {
            AdjustmentRejection.Invalid => (StatusCodes.Status400BadRequest, "Invalid adjustment"),
            AdjustmentRejection.IdempotencyKeyReused => (StatusCodes.Status409Conflict, "Idempotency key reused"),
            AdjustmentRejection.NoAssetYet => (StatusCodes.Status409Conflict, "No asset yet"),
            AdjustmentRejection.OutOfRange => (StatusCodes.Status422UnprocessableEntity, "Asset would go out of range"),
            var other => throw new InvalidOperationException($"unhandled adjustment rejection {other}"),
        };
        return Results.Problem(statusCode: status, title: title, detail: rejected.Detail);
    }

    private static async Task<IResult> SeriesAsync(
        long userId, string? from, string? to, string? interval, DontGoBackDbContext db, AssetColourPolicy colours,
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
        var user = await db.Users.AsNoTracking().Where(u => u.Id == userId && u.Status == AccountStatus.Active)
            .Select(u => new { Current = u.CurrentSnapshot == null ? (long?)null : u.CurrentSnapshot.ClosingAmount })
            .SingleOrDefaultAsync(cancellationToken);
        if (user is null)
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such user", detail: $"There is no visible profile {userId}.");

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

    private static IResult BadRequest(string detail) =>
        Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid series request", detail: detail);

    private sealed record AssetSeriesResponse(
        long UserId, DateOnly From, DateOnly To, string Interval, string? Nickname, IReadOnlyList<AssetSeriesPoint> Points);
}
