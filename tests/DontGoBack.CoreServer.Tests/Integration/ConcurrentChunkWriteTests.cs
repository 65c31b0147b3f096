using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>AssetRefresh:WritesInFlight: PostgreSQL takes chunks of different users in concurrent transactions, SQLite one at a time.</summary>
public sealed class ConcurrentChunkWriteTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private static readonly TimeSpan HoldBound = TimeSpan.FromSeconds(3);

    [Theory]
    [InlineData(DatabaseProvider.Postgres, 2)]
    [InlineData(DatabaseProvider.Sqlite, 1)]
    public async Task A_second_chunk_is_written_while_the_first_is_still_open_where_the_database_takes_it(DatabaseProvider provider, int expected)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["AssetRefresh:WritesInFlight"] = "2" });
        app.CreateClient();
        var users = await app.AddActiveUsersAsync(20, Day.AddDays(-1), 1_000_000);
        var retry = app.Services.GetRequiredService<DatabaseRetry>();
        var gate = new FirstWriteGate(app);
        AssetRefreshStore store = provider == DatabaseProvider.Postgres
            ? new GatedPostgresStore(app.Services.GetRequiredService<NpgsqlDataSource>(), retry, gate)
            : new GatedSqliteStore(app.Services.GetRequiredService<SqliteDatabase>(), retry, gate);
        // Its other parts are scoped (the rolled-up months read the run's own context), so they come from a scope of the run's.
        await using var scope = app.Services.CreateAsyncScope();
        var refresh = ActivatorUtilities.CreateInstance<RefreshAssetsUseCase>(scope.ServiceProvider, store);

        var outcome = await refresh.RunAsync(Day, IdRange.All, new RunProgress(), CancellationToken.None);

        Assert.Equal((20, 20, 0), (outcome.Total, outcome.Success, outcome.Failed));
        foreach (var id in users)
            Assert.Single(await app.SnapshotsOfAsync(id), s => s.SnapshotDay == Day);
        // The chance was there: while the first chunk's transaction stayed open, answers for a second chunk were in hand.
        Assert.True(gate.CallsWhileHeld >= 10, $"only {gate.CallsWhileHeld} answers while the first write was held");
        Assert.Equal(expected, gate.MostAtOnce);
        // Where a second write came, it ended the hold, not the bound.
        Assert.Equal(expected == 2, gate.HoldEndedBySecondWrite);
        await database.AssertChainHoldsAsync();
    }

    /// <summary>Holds the first chunk's transaction open until a second write starts or the bound passes, counting writes at once.</summary>
    private sealed class FirstWriteGate(CoreServerApp app)
    {
        private readonly TaskCompletionSource _secondWrite = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _writes;
        private int _open;
        private int _mostAtOnce;

        public int MostAtOnce => Volatile.Read(ref _mostAtOnce);
        public bool HoldEndedBySecondWrite { get; private set; }
        public int CallsWhileHeld { get; private set; }

        public async Task<T> AroundAsync<T>(Func<Task<T>> write)
        {
            var open = Interlocked.Increment(ref _open);
            InterlockedMax(ref _mostAtOnce, open);
            try
            {
                if (Interlocked.Increment(ref _writes) == 1)
                {
                    var result = await write();
                    // Held after its work, still inside its write slot, as a slow transaction would be.
                    HoldEndedBySecondWrite = await Task.WhenAny(_secondWrite.Task, Task.Delay(HoldBound)) == _secondWrite.Task;
                    CallsWhileHeld = app.Extension.TotalCalls;
                    return result;
                }
                _secondWrite.TrySetResult();
                return await write();
            }
            finally
            {
                Interlocked.Decrement(ref _open);
            }
        }

        private static void InterlockedMax(ref int target, int value)
        {
            int seen;
            while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
            {
            }
        }
    }

    private sealed class GatedPostgresStore(NpgsqlDataSource dataSource, DatabaseRetry retry, FirstWriteGate gate)
        : PostgresAssetRefreshStore(dataSource, retry)
    {
        protected override Task<ChunkWriteResult> WriteChunkOnceAsync(
            DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyList<RefreshFailure> failures,
            DateTimeOffset changedAt, ChunkTries tries, CancellationToken cancellationToken) =>
            gate.AroundAsync(() => base.WriteChunkOnceAsync(day, refreshed, failures, changedAt, tries, cancellationToken));
    }

    private sealed class GatedSqliteStore(SqliteDatabase database, DatabaseRetry retry, FirstWriteGate gate)
        : SqliteAssetRefreshStore(database, retry)
    {
        protected override Task<ChunkWriteResult> WriteChunkOnceAsync(
            DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyList<RefreshFailure> failures,
            DateTimeOffset changedAt, ChunkTries tries, CancellationToken cancellationToken) =>
            gate.AroundAsync(() => base.WriteChunkOnceAsync(day, refreshed, failures, changedAt, tries, cancellationToken));
    }
}
