using System.Data.Common;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Batch.Asset.UseCase;

/// <param name="PreviousAmount">Closing amount of the latest snapshot before the day; null when the user has none.</param>
/// <param name="AlreadyRefreshed">The user already has a snapshot for the day.</param>
/// <param name="OpensLater">The user's account opened after the day, so it has no history then.</param>
public sealed record RefreshCandidate(long UserId, long? PreviousAmount, bool AlreadyRefreshed, bool OpensLater = false);

/// <param name="BaseAmount">The base the extension was asked with; the write recomputes from the base at commit time if a reward or penalty landed meanwhile.</param>
public sealed record RefreshedAsset(long UserId, long BaseAmount, double Multiplier);

/// <summary>A market move ready to write: opening is the base at commit time, closing = round(opening × multiplier).</summary>
public readonly record struct MarketMove(long UserId, long Opening, long Closing, double Multiplier);

public sealed record RefreshFailure(long UserId, FailureClass Class, string Reason);

/// <param name="Written">Snapshots inserted by this chunk.</param>
/// <param name="AlreadyPresent">Snapshots another run wrote first; counted as skipped.</param>
/// <param name="Failed">Failures recorded: the chunk's own plus moves that would not fit.</param>
/// <param name="RebasedUsers">Users whose later days were re-based because the chunk wrote a day behind them.</param>
/// <param name="RebasedDays">Their days that were re-based.</param>
public sealed record ChunkWriteResult(int Written, int AlreadyPresent, int Failed, int RebasedUsers = 0, int RebasedDays = 0);

/// <summary>
/// The refresh's hot-path data access in provider-native SQL: keyset pages of active users
/// and one transaction per chunk of results. No tracked entities here. Every call is retried on
/// transient database faults through <see cref="DatabaseRetry"/>.
/// </summary>
public abstract class AssetRefreshStore(DatabaseRetry retry)
{
    // Works unchanged on PostgreSQL and SQLite. The latest snapshot up to the day: on the day
    // itself the user is done; before it, it is the base, so a re-run or back-fill never compounds
    // on its own result. The pointer is on the user's newest snapshot (a rule `verify` checks), so
    // when its day is not after the day it is that snapshot: one primary-key probe of yesterday's
    // rows, which sit together. Only a back-fill (the pointer past the day) descends the
    // (user_id, snapshot_day) index, whose leaves a deep history spreads over gigabytes.
    // CASE evaluates the probe only on that branch.
    internal const string ActivePageSql = $"""
        SELECT u.id, u.opening_day,
               CASE WHEN c.snapshot_day <= @day THEN c.snapshot_day ELSE
               (SELECT h.snapshot_day FROM daily_asset_snapshots h
                 WHERE h.user_id = u.id AND h.snapshot_day <= @day
                 ORDER BY h.snapshot_day DESC LIMIT 1) END,
               CASE WHEN c.snapshot_day <= @day THEN c.closing_amount ELSE
               (SELECT h.closing_amount FROM daily_asset_snapshots h
                 WHERE h.user_id = u.id AND h.snapshot_day <= @day
                 ORDER BY h.snapshot_day DESC LIMIT 1) END
          FROM users u
          LEFT JOIN daily_asset_snapshots c ON c.id = u.current_snapshot_id AND c.snapshot_day = u.current_snapshot_day
         WHERE u.status = '{AccountStatusNames.Active}' AND u.id >= @from_id AND u.id <= @last_id
         ORDER BY u.id
         LIMIT @page_size
        """;

    public Task<IReadOnlyList<RefreshCandidate>> ReadActivePageAsync(
        DateOnly day, long fromUserId, long lastUserId, int pageSize, CancellationToken cancellationToken) =>
        retry.ExecuteAsync("page read", token => ReadActivePageOnceAsync(day, fromUserId, lastUserId, pageSize, token), cancellationToken);

    private async Task<IReadOnlyList<RefreshCandidate>> ReadActivePageOnceAsync(
        DateOnly day, long fromUserId, long lastUserId, int pageSize, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await BeginPageReadAsync(connection, cancellationToken);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = ActivePageSql;
        AddParameter(command, "day", day);
        AddParameter(command, "from_id", fromUserId);
        AddParameter(command, "last_id", lastUserId);
        AddParameter(command, "page_size", pageSize);

        var page = new List<RefreshCandidate>(pageSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var userId = reader.GetInt64(0);
            DateOnly? latestDay = reader.IsDBNull(2) ? null : reader.GetFieldValue<DateOnly>(2);
            page.Add(reader.GetFieldValue<DateOnly>(1) > day ? new RefreshCandidate(userId, null, AlreadyRefreshed: false, OpensLater: true)
                : latestDay == day ? new RefreshCandidate(userId, null, AlreadyRefreshed: true)
                : new RefreshCandidate(userId, latestDay is null ? null : reader.GetInt64(3), AlreadyRefreshed: false));
        }
        return page;
    }

    // The users the page read will send to the extension: active, open on the day, without the day's
    // snapshot. The same pointer-first rule as ActivePageSql, so the count is the work the pages find.
    // The pointer's day is on the user's row: no join to the history (the pointer's id and day are null together,
    // ck_users_current_snapshot_whole). Joined, the count of a whole range has no LIMIT to
    // make the planner probe per user, and on a deep partitioned history it hashed every month's rows (178 s at 200,000
    // users × 25 months, past the command timeout: the day failed before it began).
    internal const string DueCountSql = $"""
        SELECT count(*)
          FROM users u
         WHERE u.status = '{AccountStatusNames.Active}' AND u.id >= @first_id AND u.id <= @last_id AND u.opening_day <= @day
           AND (u.current_snapshot_day IS NULL OR u.current_snapshot_day < @day
                OR (u.current_snapshot_day > @day AND NOT EXISTS
                    (SELECT 1 FROM daily_asset_snapshots h WHERE h.user_id = u.id AND h.snapshot_day = @day)))
        """;

    /// <summary>
    /// The users of the range the day still needs, counted at a run's start as its work: those it will
    /// pass over (done already, or opened after the day) are not work, so a continuation's rate and ETA
    /// are of what it has to do.
    /// </summary>
    public Task<int> CountDueAsync(DateOnly day, IdRange range, CancellationToken cancellationToken) =>
        retry.ExecuteAsync("count of the day's users to refresh", token => CountDueOnceAsync(day, range, token), cancellationToken);

    private async Task<int> CountDueOnceAsync(DateOnly day, IdRange range, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = DueCountSql;
        AddParameter(command, "day", day);
        AddParameter(command, "first_id", range.First);
        AddParameter(command, "last_id", range.Last);
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// In one transaction that holds the chunk's users (PostgreSQL: their rows locked; SQLite: the
    /// single writer), so a reward or penalty is either before the move, and in its base, or after
    /// it, on the new snapshot: inserts the day's
    /// snapshots, which hold the market move (skipping users the day already has), moves each
    /// pointer only forward, clears the day's failure record of users that now succeeded and
    /// records the new failures. A transient fault runs the whole transaction again (see <see cref="ChunkTries"/>).
    /// </summary>
    public async Task<ChunkWriteResult> WriteChunkAsync(
        DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyList<RefreshFailure> failures,
        DateTimeOffset changedAt, CancellationToken cancellationToken)
    {
        var tries = new ChunkTries();
        return await retry.ExecuteAsync("chunk write", token =>
        {
            tries.Begin();
            return WriteChunkOnceAsync(day, refreshed, failures, changedAt, tries, token);
        }, cancellationToken);
    }

    /// <summary>One try of <see cref="WriteChunkAsync"/>: calls <see cref="ChunkTries.Committing"/> right before its commit.</summary>
    protected abstract Task<ChunkWriteResult> WriteChunkOnceAsync(
        DateOnly day, IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyList<RefreshFailure> failures,
        DateTimeOffset changedAt, ChunkTries tries, CancellationToken cancellationToken);

    /// <summary>
    /// What the earlier tries of one chunk may have written. A try that fails before its commit
    /// wrote nothing; one that fails while committing (the connection dropped) may have written
    /// everything. Running the chunk again is harmless either way (snapshots are inserted only
    /// where missing, pointers move only forward, clearing failures is idempotent), and two
    /// things keep the counts right: users whose snapshot such a try inserted, found present by
    /// the next try, still count as written by this chunk rather than skipped; and the next
    /// try does not add a second failed attempt to a failure record that already carries this
    /// chunk's timestamp. (Should the uncertain commit in fact have been rolled back and another
    /// run written one of those users in between, that user counts as success rather than
    /// skipped here: the total is the same.)
    /// </summary>
    protected sealed class ChunkTries
    {
        private readonly HashSet<long> _insertedByUncertainCommits = [];
        private long[]? _committing;

        /// <summary>An earlier try failed while committing: its writes may have landed.</summary>
        public bool EarlierMayHaveCommitted { get; private set; }

        internal void Begin()
        {
            if (_committing is null)
                return;
            _insertedByUncertainCommits.UnionWith(_committing);
            EarlierMayHaveCommitted = true;
            _committing = null;
        }

        /// <param name="inserted">The users whose snapshot this try inserted.</param>
        public void Committing(IEnumerable<long> inserted) => _committing = inserted.ToArray();

        /// <summary>The chunk's counts, once a try has committed.</summary>
        /// <remarks>Re-bases are counted by the try that made them; one done by a try whose commit was uncertain is not counted again.</remarks>
        public ChunkWriteResult Result(IReadOnlyCollection<long> inserted, int moveCount, int failed, int rebasedUsers, int rebasedDays)
        {
            var written = _insertedByUncertainCommits.Count == 0 ? inserted.Count : _insertedByUncertainCommits.Union(inserted).Count();
            return new ChunkWriteResult(written, Math.Max(0, moveCount - written), failed, rebasedUsers, rebasedDays);
        }
    }

    protected abstract Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>Settings the page read needs on its connection: a transaction it runs in (rolled back with it), or none.</summary>
    protected virtual Task<DbTransaction?> BeginPageReadAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction?>(null);

    /// <summary>Whether chunks of different users may be written in concurrent transactions (false: the database has one writer).</summary>
    public virtual bool TakesConcurrentWrites => true;

    /// <summary>The market moves from the bases read inside that transaction; a move whose result would not fit is a failure.</summary>
    protected static List<MarketMove> ApplyMarketMoves(
        IReadOnlyList<RefreshedAsset> refreshed, IReadOnlyDictionary<long, long> basesNow, List<RefreshFailure> failures)
    {
        var moves = new List<MarketMove>(refreshed.Count);
        foreach (var asset in refreshed)
        {
            var opening = basesNow.GetValueOrDefault(asset.UserId, asset.BaseAmount);
            if (AssetAmount.Apply(opening, asset.Multiplier) is { } closing)
                moves.Add(new MarketMove(asset.UserId, opening, closing, asset.Multiplier));
            else
                failures.Add(new RefreshFailure(asset.UserId, FailureClass.Permanent, $"base {opening} × {asset.Multiplier} does not fit in a 64-bit amount"));
        }
        return moves;
    }

    /// <summary>
    /// Plans the re-base of every user whose move is written behind later days (their later
    /// snapshots, read under the chunk's lock, in user and day order). A user whose re-base would
    /// not fit in 64 bits becomes a failure and is taken out of the moves.
    /// </summary>
    protected static Dictionary<long, UserRebase> PlanRebases(
        DateOnly day, List<MarketMove> moves, IReadOnlyList<(long UserId, StoredSnapshot Snapshot)> later, List<RefreshFailure> failures)
    {
        var plans = new Dictionary<long, UserRebase>();
        if (later.Count == 0)
            return plans;
        var laterByUser = later.GroupBy(l => l.UserId).ToDictionary(g => g.Key, g => g.Select(l => l.Snapshot).ToList());
        moves.RemoveAll(move =>
        {
            if (!laterByUser.TryGetValue(move.UserId, out var snapshots))
                return false;
            if (AssetChainRebase.Plan(move.UserId, day, move.Multiplier, move.Closing, snapshots) is { } plan)
            {
                plans[move.UserId] = plan;
                return false;
            }
            failures.Add(new RefreshFailure(move.UserId, FailureClass.Permanent, "re-basing the later days would not fit in a 64-bit amount"));
            return true;
        });
        return plans;
    }

    protected static StoredSnapshot ReadStoredSnapshot(DbDataReader reader) => new(
        reader.GetInt64(0), reader.GetFieldValue<DateOnly>(2), reader.GetInt64(3), reader.GetInt64(4),
        reader.IsDBNull(5) ? null : reader.GetDouble(5), reader.GetInt64(6));

    /// <summary>Columns <see cref="ReadStoredSnapshot"/> reads, then the user id at 1.</summary>
    protected const string StoredSnapshotColumns = "id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, net_flow";

    protected static void AddParameter(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
