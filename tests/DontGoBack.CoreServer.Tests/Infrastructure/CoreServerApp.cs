using System.Net;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.InterServer.Auth;
using DontGoBack.CoreServer.InterServer.Extension;
using DontGoBack.CoreServer.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// The core server in process on its own database, with the wall clock pinned, the scheduler
/// off unless a test turns it on, and the extension server faked at the HTTP boundary.
/// </summary>
public sealed class CoreServerApp(TestDatabase database, IDictionary<string, string?>? settings = null)
    : WebApplicationFactory<Program>
{
    /// <summary>09:00 in Seoul on 2025-08-10.</summary>
    public static readonly DateTimeOffset DefaultNow = new(2025, 8, 10, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Opening day of users added without snapshots.</summary>
    public static readonly DateOnly LongAgo = new(2025, 1, 1);

    public PinnedWallClock Time { get; } = new(DefaultNow);
    public FakeExtensionServer Extension { get; } = new();
    public FakeAuthServer Auth { get; } = new();
    public LogCollector Logs { get; } = new();
    public TestDatabase Database => database;

    /// <summary>The address requests appear to come from.</summary>
    public IPAddress RemoteAddress { get; set; } = IPAddress.Loopback;

    /// <summary>False when the test talks to a real extension server instead of the fake.</summary>
    public bool UseFakeExtension { get; init; } = true;

    /// <summary>More test services, registered after the server's own and the defaults above (e.g. a <see cref="CommandWatch"/>).</summary>
    public Action<IServiceCollection>? TestServices { get; init; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        var defaults = new Dictionary<string, string?>
        {
            ["Database:Provider"] = database.Provider.ToString(),
            ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
            ["AssetRefresh:Enabled"] = "false",
            ["UserDormancy:Enabled"] = "false",
            ["HistoryMaintenance:Enabled"] = "false",
            ["AssetRefresh:MaxConcurrency"] = "8",
            ["AssetRefresh:PageSize"] = "7",
            ["AssetRefresh:WriteChunkSize"] = "5",
            ["DemoData:UsersOnEmptyDatabase"] = "0",
            ["Extension:Simulation:Salt"] = FakeExtensionServer.Salt,
            ["Extension:MaxRetryAttempts"] = "2",
            ["Extension:RetryBaseDelay"] = "00:00:00.010",
            ["Extension:AttemptTimeout"] = "00:00:00.250",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            defaults[key] = value;
        foreach (var (key, value) in defaults)
            builder.UseSetting(key, value);

        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<TimeProvider>(Time);
            if (UseFakeExtension)
            {
                services.AddHttpClient<ExtensionClient>().ConfigurePrimaryHttpMessageHandler(() => Extension);
                services.AddHttpClient(AccessTokenProvider.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => Auth);
            }
            services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(Logs);
            services.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter>(new RemoteAddressFilter(this));
            TestServices?.Invoke(services);
        });
    }

    public async Task<long> AddUserAsync(AccountStatus status, params (DateOnly Day, long Amount)[] snapshots)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        // The account opens on its first snapshot's day; one given none opened long before any day a test runs.
        var openingDay = snapshots.Length > 0 ? snapshots.Min(s => s.Day) : LongAgo;
        var user = new User { Status = status, CreatedAt = DefaultNow, OpeningDay = openingDay };
        db.Users.Add(user);
        await db.SaveChangesAsync();
        DailyAssetSnapshot? latest = null;
        // The first snapshot opens the account at its amount; each later one is a market move from
        // the one before to its amount, so the history given keeps the chain rule.
        foreach (var (day, amount) in snapshots.OrderBy(s => s.Day))
        {
            var opening = latest?.ClosingAmount ?? amount;
            latest = new DailyAssetSnapshot
            {
                UserId = user.Id, SnapshotDay = day, OpeningAmount = opening, ClosingAmount = amount, UpdatedAt = DefaultNow,
                MarketMultiplier = latest is null || opening == 0 ? null : (double)amount / opening, MarketDelta = amount - opening,
            };
            db.DailyAssetSnapshots.Add(latest);
        }
        await db.SaveChangesAsync();
        user.PointAt(latest);
        await db.SaveChangesAsync();
        return user.Id;
    }

    /// <summary>Adds <paramref name="count"/> ACTIVE users, each with one snapshot of that day and amount.</summary>
    public async Task<List<long>> AddActiveUsersAsync(int count, DateOnly day, long amount)
    {
        var users = new List<long>(count);
        for (var i = 0; i < count; i++)
            users.Add(await AddUserAsync(AccountStatus.Active, (day, amount)));
        return users;
    }

    public async Task<List<DailyAssetSnapshot>> SnapshotsOfAsync(long userId)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        return await db.DailyAssetSnapshots.AsNoTracking().Where(h => h.UserId == userId).OrderBy(h => h.SnapshotDay).ToListAsync();
    }

    /// <summary>The user's change history as it reads: recorded changes with the market moves taken from the snapshots.</summary>
    public async Task<List<AssetChange>> ChangesOfAsync(long userId)
    {
        await using var scope = Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AssetChangeHistory>().OfUserAsync(userId, CancellationToken.None);
    }

    /// <summary>The day of the snapshot the user's pointer is on, or null.</summary>
    public async Task<DateOnly?> CurrentDayOfAsync(long userId)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        return await db.Users.AsNoTracking().Where(u => u.Id == userId)
            .Select(u => u.CurrentSnapshot == null ? (DateOnly?)null : u.CurrentSnapshot.SnapshotDay)
            .SingleAsync();
    }

    public async Task<List<AssetRefreshFailure>> FailuresAsync(DateOnly day)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        return await db.AssetRefreshFailures.AsNoTracking().Where(f => f.SnapshotDay == day).OrderBy(f => f.UserId).ToListAsync();
    }

    private sealed class RemoteAddressFilter(CoreServerApp app) : Microsoft.AspNetCore.Hosting.IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => builder =>
        {
            builder.Use((context, nextMiddleware) =>
            {
                context.Connection.RemoteIpAddress = app.RemoteAddress;
                return nextMiddleware(context);
            });
            next(builder);
        };
    }
}
