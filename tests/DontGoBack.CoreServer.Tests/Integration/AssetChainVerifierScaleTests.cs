using System.Data.Common;
using System.Text.Json;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// `verify` over a history written behind the pointer: the newest day refreshed first, then the days
/// before it back-filled, so the older days hold higher snapshot ids than the newest. The work is
/// measured, not timed: on PostgreSQL the rows each statement's plan touched (EXPLAIN ANALYZE of the
/// very statements the checker sent), on SQLite the virtual machine's steps per statement.
/// </summary>
public sealed class AssetChainVerifierScaleTests
{
    private static readonly DateOnly Newest = new(2025, 8, 10);
    private const int Days = 6;

    /// <summary>Two and a half of the checker's pages: more than one statement may cover.</summary>
    private const int Users = AssetChainVerifier.DefaultUsersPerStatement * 5 / 2;

    /// <summary>Rows in one page of users: their snapshots, their one change each, and their user rows.</summary>
    private const int RowsPerPage = AssetChainVerifier.DefaultUsersPerStatement * (Days + 2);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Verify_reads_a_back_filled_history_in_statements_bounded_by_a_page_each_reading_its_rows_a_few_times(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await WriteBackFilledBehindThePointerAsync(database);

        var statements = new StatementWork();
        await using (var db = ContextWith(database, statements))
        {
            // Held open, so every statement runs on the one SQLite connection whose steps are counted.
            await db.Database.OpenConnectionAsync();
            statements.Watch(db.Database.GetDbConnection());
            var check = await new AssetChainVerifier(db).CheckAsync(DateOnly.MinValue, DateOnly.MaxValue, 10, CancellationToken.None);
            Assert.True(check.Total == 0, $"{check.Total} breaks in a sound history, first: {string.Join(", ", check.First)}");
        }

        var work = await statements.MeasureAsync(database);
        if (provider == DatabaseProvider.Postgres)
        {
            // Each row of a page is read by a handful of plan nodes (scan, join, sorts, windows, the rules' filters):
            // about 15 per row of a page here. The quadratic plan read the whole snapshot table once per snapshot (15,000 × 15,000),
            // and even a linear statement over all 2.5 pages would touch more than the bound allows.
            Assert.True(work.Max() <= 25L * RowsPerPage, $"rows touched per statement: {string.Join(", ", work)}");
        }
        else
        {
            // Steps grow with the rows a statement reads: about 300 a row of a page here (2.4 M a page; 225 before the
            // roll-ups were checked against their days by month), so one statement over all 2.5 pages, as the original
            // sent, takes more than the bound allows.
            Assert.True(work.Max() <= 400L * RowsPerPage, $"virtual machine steps per statement: {string.Join(", ", work)}");
        }
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Verify_finds_a_corrupted_opening_and_a_misplaced_pointer_on_both_sides_of_a_page_boundary(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var userIds = await WriteBackFilledBehindThePointerAsync(database);
        // The last user of the first page and the first of the second.
        var (corrupted, misplaced) = (userIds[AssetChainVerifier.DefaultUsersPerStatement - 1], userIds[AssetChainVerifier.DefaultUsersPerStatement]);
        var corruptedDay = Newest.AddDays(-3);
        long newestId, olderId;
        await using (var db = database.CreateContext())
        {
            await db.DailyAssetSnapshots.Where(s => s.UserId == corrupted && s.SnapshotDay == corruptedDay)
                .ExecuteUpdateAsync(set => set.SetProperty(s => s.OpeningAmount, s => s.OpeningAmount + 1));
            newestId = await db.DailyAssetSnapshots.Where(s => s.UserId == misplaced && s.SnapshotDay == Newest).Select(s => s.Id).SingleAsync();
            olderId = await db.DailyAssetSnapshots.Where(s => s.UserId == misplaced && s.SnapshotDay == Newest.AddDays(-1)).Select(s => s.Id).SingleAsync();
            await db.Users.Where(u => u.Id == misplaced).ExecuteUpdateAsync(set => set
                .SetProperty(u => u.CurrentSnapshotId, olderId).SetProperty(u => u.CurrentSnapshotDay, Newest.AddDays(-1)));
        }

        await using var verifying = database.CreateContext();
        var check = await new AssetChainVerifier(verifying).CheckAsync(DateOnly.MinValue, DateOnly.MaxValue, 10, CancellationToken.None);

        Assert.Equal(
            [
                new ChainBreak(corrupted, corruptedDay, "closing", 10_000_001, 10_000_000),
                new ChainBreak(corrupted, corruptedDay, "opening", 10_000_000, 10_000_001),
                new ChainBreak(misplaced, Newest, "pointer", newestId, olderId),
            ],
            check.First);
        Assert.Equal(3, check.Total);
    }

    /// <summary>
    /// Every user opens 5 days before <see cref="Newest"/> at 10,000,000 with no market move after. The newest day is
    /// written first for every user, as a refresh of today writes it; then the days before it, oldest first, as a
    /// back-fill does: each older day holds higher ids than the newest, which the pointer is on. The opening day has
    /// no market move (a null multiplier) from the start: updated afterwards, its rows moved in the table, and
    /// PostgreSQL no longer chose the quadratic plan the original statement was given over this shape.
    /// </summary>
    private static async Task<long[]> WriteBackFilledBehindThePointerAsync(TestDatabase database)
    {
        const long Amount = 10_000_000;
        var opening = Newest.AddDays(1 - Days);
        var at = new DateTimeOffset(opening.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        await using var db = database.CreateContext();
        await db.Database.MigrateAsync();
        // Set-based: the same statements on both providers (row by row through EF took seconds).
        await db.Database.ExecuteSqlAsync($"""
            WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < {Users})
            INSERT INTO users (status, created_at, opening_day) SELECT 'ACTIVE', {at}, {opening} FROM numbers
            """);
        foreach (var day in Enumerable.Range(1, Days - 1).Select(back => Newest.AddDays(back - Days)).Prepend(Newest))
        {
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO daily_asset_snapshots (user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
                SELECT id, {day}, {Amount}, {Amount}, NULLIF({(day == opening ? 0.0 : 1.0)}, 0.0), 0, 0, {at} FROM users ORDER BY id
                """);
        }
        await db.Users.ExecuteUpdateAsync(set => set.SetProperty(u => u.CurrentSnapshotId,
            u => db.DailyAssetSnapshots.Where(s => s.UserId == u.Id && s.SnapshotDay == Newest).Select(s => (long?)s.Id).FirstOrDefault())
            .SetProperty(u => u.CurrentSnapshotDay, Newest));
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, snapshot_id, snapshot_day, changed_at)
            SELECT user_id, {nameof(AssetChangeKind.Opening)}, 0, {Amount}, {Amount}, id, snapshot_day, {at}
              FROM daily_asset_snapshots WHERE snapshot_day = {opening}
            """);
        var userIds = await db.Users.OrderBy(u => u.Id).Select(u => u.Id).ToArrayAsync();
        Assert.Equal(Users, userIds.Length);
        if (database.Provider == DatabaseProvider.Postgres)
            await db.Database.ExecuteSqlRawAsync("ANALYZE");
        return userIds;
    }

    /// <summary>
    /// A context that records its statements' work, with a command timeout of 10 s: a page's statement takes
    /// milliseconds, while the original's one quadratic statement ran into the default 30 s on this shape.
    /// </summary>
    private static DontGoBackDbContext ContextWith(TestDatabase database, StatementWork statements) => database.Provider switch
    {
        DatabaseProvider.Sqlite => new SqliteDontGoBackDbContext(new DbContextOptionsBuilder<SqliteDontGoBackDbContext>()
            .UseSqlite(database.ConnectionString, sqlite => sqlite.CommandTimeout(10)).UseSnakeCaseNamingConvention().AddInterceptors(statements).Options),
        _ => new PostgresDontGoBackDbContext(new DbContextOptionsBuilder<PostgresDontGoBackDbContext>()
            .UseNpgsql(database.ConnectionString, postgres => postgres.CommandTimeout(10)).UseSnakeCaseNamingConvention().AddInterceptors(statements).Options),
    };

    /// <summary>
    /// Records every query the context sends. SQLite: counts the virtual machine's steps from one query's
    /// start to the next's (the reader of one is read to its end before the next is sent). PostgreSQL:
    /// keeps each query and its parameters, to be run again under EXPLAIN ANALYZE.
    /// </summary>
    private sealed class StatementWork : DbCommandInterceptor
    {
        private const int StepsPerTick = 1_000;
        private readonly List<(string Text, NpgsqlParameter[] Parameters)> _postgres = [];
        private readonly List<long> _sqliteSteps = [];
        private readonly SQLitePCL.delegate_progress _tick;
        private bool _watching;
        private bool _sqliteStarted;
        private long _ticks;
        private long _ticksAtStart;

        public StatementWork() => _tick = _ => { _ticks++; return 0; };

        /// <summary>SQLite: counts the steps of the statements run on this (open) connection from now on.</summary>
        public void Watch(DbConnection connection)
        {
            if (connection is SqliteConnection sqlite)
            {
                SQLitePCL.raw.sqlite3_progress_handler(sqlite.Handle, StepsPerTick, _tick, null);
                _watching = true;
            }
        }

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
            DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            if (command is NpgsqlCommand postgres)
                _postgres.Add((postgres.CommandText, postgres.Parameters.Select(p => p.Clone()).ToArray()));
            else if (_watching)
            {
                if (_sqliteStarted)
                    _sqliteSteps.Add((_ticks - _ticksAtStart) * StepsPerTick);
                _sqliteStarted = true;
                _ticksAtStart = _ticks;
            }
            return ValueTask.FromResult(result);
        }

        /// <summary>The work of each statement sent: rows its plan touched (PostgreSQL) or steps it took (SQLite).</summary>
        public async Task<IReadOnlyList<long>> MeasureAsync(TestDatabase database)
        {
            if (database.Provider == DatabaseProvider.Sqlite)
            {
                Assert.True(_sqliteStarted, "no statement was counted");
                return [.. _sqliteSteps, (_ticks - _ticksAtStart) * StepsPerTick];
            }
            Assert.NotEmpty(_postgres);
            await using var connection = new NpgsqlConnection(database.ConnectionString);
            await connection.OpenAsync();
            var work = new List<long>();
            foreach (var (text, parameters) in _postgres)
            {
                await using var explain = new NpgsqlCommand($"EXPLAIN (ANALYZE, FORMAT JSON) {text}", connection);
                explain.Parameters.AddRange(parameters);
                using var plan = JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
                work.Add(RowsTouched(plan.RootElement[0].GetProperty("Plan")));
            }
            return work;
        }

        /// <summary>Rows a plan node produced or threw away, over all its loops, and the same of the nodes under it.</summary>
        private static long RowsTouched(JsonElement node)
        {
            double perLoop = node.GetProperty("Actual Rows").GetDouble();
            foreach (var removed in new[] { "Rows Removed by Filter", "Rows Removed by Join Filter", "Rows Removed by Index Recheck" })
            {
                if (node.TryGetProperty(removed, out var count))
                    perLoop += count.GetDouble();
            }
            var rows = (long)(perLoop * node.GetProperty("Actual Loops").GetDouble());
            if (node.TryGetProperty("Plans", out var children))
            {
                foreach (var child in children.EnumerateArray())
                    rows += RowsTouched(child);
            }
            return rows;
        }
    }
}
