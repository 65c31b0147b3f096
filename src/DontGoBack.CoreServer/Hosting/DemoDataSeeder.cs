using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Schedule;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// Demo users for a database that has none (DemoData:UsersOnEmptyDatabase, DemoData:ActivePercent),
/// each opening at AssetRefresh:StartAmount, by default yesterday in the batch zone; also what `seed` adds.
/// </summary>
public sealed partial class DemoDataSeeder(
    DemoPopulation population, BatchCalendar calendar, IOptions<AssetRefreshOptions> refresh, IOptions<DemoDataOptions> demo,
    ILogger<DemoDataSeeder> logger) : IDbSeeder<DontGoBackDbContext>
{
    public Task SeedAsync(DontGoBackDbContext context, CancellationToken cancellationToken) =>
        SeedEmptyAsync(context, openingDay: null, cancellationToken);

    /// <param name="openingDay">Day of the users' opening snapshot; default yesterday.</param>
    public async Task SeedEmptyAsync(DontGoBackDbContext context, DateOnly? openingDay, CancellationToken cancellationToken)
    {
        var settings = demo.Value;
        if (settings.UsersOnEmptyDatabase <= 0 || await context.Users.AnyAsync(cancellationToken))
            return;
        var (firstId, lastId) = await AddUsersAsync(settings.UsersOnEmptyDatabase, settings.ActivePercent, cancellationToken, openingDay);
        LogSeeded(logger, lastId - firstId + 1, settings.ActivePercent);
    }

    /// <summary>Adds demo users with an opening snapshot at the configured start amount, by default yesterday in the batch zone.</summary>
    public Task<(long FirstId, long LastId)> AddUsersAsync(
        int count, int activePercent, CancellationToken cancellationToken, DateOnly? openingDay = null) =>
        population.AddUsersAsync(count, openingDay ?? calendar.Today.AddDays(-1), refresh.Value.StartAmount, activePercent, cancellationToken);

    // The share is said here because the first refresh then reports fewer users than were added.
    [LoggerMessage(LogLevel.Information,
        "Empty database: added {Count} demo users, {ActivePercent}% of them ACTIVE (DemoData:ActivePercent); the refresh takes only ACTIVE users")]
    private static partial void LogSeeded(ILogger logger, long count, int activePercent);
}
