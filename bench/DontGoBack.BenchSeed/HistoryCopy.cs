using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;

namespace DontGoBack.BenchSeed;

/// <summary>
/// Writes users and their asset history by binary COPY, for both benches. The indexes that are not
/// constraints are dropped for the load and rebuilt from their own definitions after it (far
/// cheaper than one index insert per row), except the snapshots' <see cref="GrownIndex"/> when days
/// are appended to a database; the foreign-key triggers are off for the load (the ids
/// are consistent by construction), then <c>VACUUM ANALYZE</c>. Snapshots go day by day, every
/// user within a day, as the daily job writes them, so one user's rows lie on as many heap pages
/// as in production. The history keeps the chain the core server's <c>verify</c> checks: the
/// opening day opens and closes at <see cref="StartAmount"/> without a market move, with its
/// <c>Opening</c> change; each later day opens at the closing before it and closes at
/// round(opening × multiplier) plus that day's net flow, with a multiplier from 0.97 to 1.03 that
/// follows (user, day), and a reward (net flow and <c>Reward</c> change) on about one user-day in 100.
/// <see cref="SeedRolledUpAsync"/> writes the same history with its oldest months already let go, as the core server's
/// history lifecycle leaves them: their roll-ups instead of their days. Either can also roll up every closed month that
/// keeps its daily rows, as the lifecycle does as soon as a month closes (<c>rollUpClosedMonths</c>).
/// The schema must exist (the core server migrates it); the connection must be a superuser's
/// (<c>session_replication_role</c>).
/// </summary>
public sealed class HistoryCopy(NpgsqlDataSource dataSource, Action<string> progress)
{
    public const long StartAmount = 10_000_000;
    public const long Reward = 100_000;

    private static readonly string[] Tables = ["users", "daily_asset_snapshots", "asset_changes"];

    /// <summary>
    /// The index every day's snapshots reach at one leaf per few users. Appended days go into it as the
    /// daily job's do, so its leaves are left at every fill level, as production's are. Rebuilt packed
    /// after the load, all its leaves filled up on the same day a few days later and that day at depth
    /// split every one (1,000,000 users, 60 days: 6.0 s for a day's insert against 3.2–3.3 s on the days
    /// before; over eight later days beside a copy grown day by day, medians of 5.7 s rebuilt, 4.7 s grown).
    /// </summary>
    public const string GrownIndex = "ix_daily_asset_snapshots_user_id_snapshot_day";

    /// <summary>
    /// Replaces every user with ids 1..<paramref name="users"/>, ACTIVE when id % 100 &lt; <paramref name="activePercent"/>
    /// (the others INACTIVE, SUSPENDED or CLOSE_REQUESTED by id % 3, the core server's <c>seed</c> rule), each with its
    /// opening on <paramref name="openingDay"/>; then every ACTIVE user gets <paramref name="days"/> − 1 more days and
    /// the pointer on the newest. With <paramref name="rollUpClosedMonths"/>, every month before the newest day's is also
    /// rolled up as the lifecycle rolls a month up when it closes (see <see cref="ClosedMonthRollups"/>).
    /// </summary>
    public Task SeedAsync(int users, int activePercent, DateOnly openingDay, int days, bool rollUpClosedMonths, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(days, 1);
        return LoadAsync(new Seed(users, activePercent, openingDay, RolledUpMonths: 0, rollUpClosedMonths), openingDay.AddDays(1), days - 1, withMarketChanges: false, cancellationToken);
    }

    /// <inheritdoc cref="SeedAsync(int, int, DateOnly, int, bool, CancellationToken)"/>
    public Task SeedAsync(int users, int activePercent, DateOnly openingDay, int days, CancellationToken cancellationToken) =>
        SeedAsync(users, activePercent, openingDay, days, rollUpClosedMonths: false, cancellationToken);

    /// <summary>
    /// The history <see cref="SeedAsync"/> writes (the same days, multipliers and rewards), with its first
    /// <paramref name="rolledUpMonths"/> calendar months, from <paramref name="openingDay"/>'s, already let go as the core
    /// server's <c>AssetHistoryLifecycle</c> leaves them: one <c>asset_month_rollups</c> row per user and month with the
    /// figures it computes from the days (first and last day, days, the first opening, the last closing, the summed net flow,
    /// the product of the multipliers in day order, the opening's missing one counting as 1.0), the months in
    /// <c>asset_rolled_up_months</c> rolled up, sealed and with their daily rows deleted, and none of their snapshots or
    /// change rows left but the users' current ones (the openings of the users not ACTIVE, with their <c>Opening</c>
    /// changes). Then every ACTIVE user gets <paramref name="days"/> daily days from the first of the month after, the first
    /// opening at the last roll-up's closing, and the pointer on the newest; with <paramref name="rollUpClosedMonths"/> the
    /// closed months among those are rolled up too, not sealed (see <see cref="ClosedMonthRollups"/>).
    /// </summary>
    public Task SeedRolledUpAsync(
        int users, int activePercent, DateOnly openingDay, int rolledUpMonths, int days, bool rollUpClosedMonths, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rolledUpMonths, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(days, 1);
        var dailyFrom = FirstOfMonth(openingDay).AddMonths(rolledUpMonths);
        return LoadAsync(new Seed(users, activePercent, openingDay, rolledUpMonths, rollUpClosedMonths), dailyFrom, days, withMarketChanges: false, cancellationToken);
    }

    /// <inheritdoc cref="SeedRolledUpAsync(int, int, DateOnly, int, int, bool, CancellationToken)"/>
    public Task SeedRolledUpAsync(int users, int activePercent, DateOnly openingDay, int rolledUpMonths, int days, CancellationToken cancellationToken) =>
        SeedRolledUpAsync(users, activePercent, openingDay, rolledUpMonths, days, rollUpClosedMonths: false, cancellationToken);

    /// <summary>
    /// Gives every ACTIVE user <paramref name="days"/> more days from <paramref name="firstDay"/> on, continuing from
    /// the closing of the snapshot its pointer is on, and moves the pointer to the newest. With
    /// <paramref name="withMarketChanges"/> each day also gets a <c>Market</c> change, as the refresh wrote it before
    /// market moves lived in the snapshots alone (to measure the old layout with a build of that time).
    /// </summary>
    public Task AppendAsync(DateOnly firstDay, int days, bool withMarketChanges, CancellationToken cancellationToken) =>
        LoadAsync(seed: null, firstDay, days, withMarketChanges, cancellationToken);

    private sealed record Seed(int Users, int ActivePercent, DateOnly OpeningDay, int RolledUpMonths, bool RollUpClosedMonths = false)
    {
        public bool WritesRollups => RolledUpMonths > 0 || RollUpClosedMonths;
    }

    private async Task LoadAsync(Seed? seed, DateOnly firstDay, int days, bool withMarketChanges, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var clock = Stopwatch.StartNew();

        long[] userIds;
        long[] closings;
        long nextSnapshotId;
        if (seed is null)
        {
            (userIds, closings) = await ReadActiveBasesAsync(connection, cancellationToken);
            nextSnapshotId = await ScalarAsync(connection, "SELECT COALESCE(max(id), 0) + 1 FROM daily_asset_snapshots", cancellationToken);
        }
        else
        {
            // The roll-up tables only when seeding them: a build from before them (read.sh --baseline) has none.
            await ExecuteAsync(connection, seed.WritesRollups
                ? "TRUNCATE users, daily_asset_snapshots, asset_changes, asset_month_rollups, asset_rolled_up_months CASCADE"
                : "TRUNCATE users, daily_asset_snapshots, asset_changes CASCADE", cancellationToken);
            var active = Enumerable.Range(1, seed.Users).Where(id => id % 100 < seed.ActivePercent).Select(id => (long)id).ToArray();
            userIds = active;
            closings = Enumerable.Repeat(StartAmount, active.Length).ToArray();
            nextSnapshotId = seed.Users + 1;
        }

        var indexes = await DropIndexesAsync(connection, keep: seed is null ? GrownIndex : null, cancellationToken);
        // The months of the daily rows written here, and the two the core server's history-maintenance would have created
        // ahead by the last of them; a rolled-up seed's openings stay in the rolled-up months, in the default partitions.
        var lastDay = days > 0 ? firstDay.AddDays(days - 1) : firstDay;
        var firstMonth = FirstOfMonth(seed is { RolledUpMonths: 0 } && seed.OpeningDay < firstDay ? seed.OpeningDay : firstDay);
        var partitioned = await IsPartitionedAsync(connection, cancellationToken);
        if (partitioned)
            await CreateMonthPartitionsAsync(connection, firstMonth, FirstOfMonth(lastDay).AddMonths(MonthsAhead), cancellationToken);
        await ExecuteAsync(connection, "SET session_replication_role = replica", cancellationToken);
        if (seed is not null)
        {
            await CopyUsersAndOpeningsAsync(connection, seed, now, cancellationToken);
            progress($"users and openings: {seed.Users:N0} at {clock.Elapsed.TotalSeconds:F1} s");
            if (seed.RolledUpMonths > 0)
            {
                await CopyRollupsAsync(connection, seed, userIds, closings, firstDay, now, cancellationToken);
                progress($"roll-ups: {seed.RolledUpMonths} months to {firstDay.AddDays(-1):yyyy-MM-dd} at {clock.Elapsed.TotalSeconds:F1} s");
            }
        }

        var snapshotIds = new long[userIds.Length];
        // The months the lifecycle would have rolled up by the last day (every one before its month) and that keep their days.
        var rollups = seed is { RollUpClosedMonths: true }
            ? new ClosedMonthRollups(seed, userIds, closings, firstDay, FirstOfMonth(lastDay), now)
            : null;
        for (var day = 0; day < days; day++)
        {
            var snapshotDay = firstDay.AddDays(day);
            if (rollups is not null && rollups.IsAfterMonth(snapshotDay))
                await rollups.CloseMonthAsync(connection, closings, cancellationToken);
            var rewards = new List<(long User, long SnapshotId, long Before)>();
            var markets = withMarketChanges ? new List<(long User, long SnapshotId, long Opening, long Moved)>(userIds.Length) : null;
            await using (var copy = await connection.BeginBinaryImportAsync(
                "COPY daily_asset_snapshots (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at) FROM STDIN (FORMAT BINARY)",
                cancellationToken))
            {
                // Synchronous writes block only when the buffer goes out; an await per value costs more than the row.
                for (var i = 0; i < userIds.Length; i++)
                {
                    var user = userIds[i];
                    var opening = closings[i];
                    var (multiplier, moved, netFlow) = DayOf(user, snapshotDay, opening);
                    var id = snapshotIds[i] = nextSnapshotId++;
                    if (netFlow != 0)
                        rewards.Add((user, id, moved));
                    markets?.Add((user, id, opening, moved));
                    closings[i] = moved + netFlow;
                    rollups?.Add(i, multiplier, netFlow);
                    copy.StartRow();
                    copy.Write(id, NpgsqlDbType.Bigint);
                    copy.Write(user, NpgsqlDbType.Bigint);
                    copy.Write(snapshotDay, NpgsqlDbType.Date);
                    copy.Write(opening, NpgsqlDbType.Bigint);
                    copy.Write(closings[i], NpgsqlDbType.Bigint);
                    copy.Write(multiplier, NpgsqlDbType.Double);
                    copy.Write(moved - opening, NpgsqlDbType.Bigint);
                    copy.Write(netFlow, NpgsqlDbType.Bigint);
                    copy.Write(now, NpgsqlDbType.TimestampTz);
                }
                await copy.CompleteAsync(cancellationToken);
            }
            rollups?.DayWritten(snapshotDay);
            // A user's changes in the order the refresh wrote them: the market move first, then the reward.
            await using (var copy = await connection.BeginBinaryImportAsync(ChangesCopySql, cancellationToken))
            {
                var r = 0;
                foreach (var (user, id, opening, moved) in markets ?? [])
                {
                    WriteChange(copy, user, "Market", opening, moved, null, id, snapshotDay, now);
                    for (; r < rewards.Count && rewards[r].User == user; r++)
                        WriteChange(copy, user, "Reward", rewards[r].Before, rewards[r].Before + Reward, "bench reward", rewards[r].SnapshotId, snapshotDay, now);
                }
                for (; r < rewards.Count; r++)
                    WriteChange(copy, rewards[r].User, "Reward", rewards[r].Before, rewards[r].Before + Reward, "bench reward", rewards[r].SnapshotId, snapshotDay, now);
                await copy.CompleteAsync(cancellationToken);
            }
            if (day % 10 == 9 || day == days - 1)
                progress($"history: day {day + 1} of {days} ({(long)(day + 1) * userIds.Length:N0} snapshots) at {clock.Elapsed.TotalSeconds:F1} s");
        }

        if (rollups is not null)
        {
            await rollups.CloseMonthAsync(connection, closings, cancellationToken);
            await rollups.RecordMonthsAsync(connection, cancellationToken);
            progress($"roll-ups of the closed months kept daily: {rollups.Months} at {clock.Elapsed.TotalSeconds:F1} s");
        }
        if (days > 0)
            await MovePointersAsync(connection, userIds, snapshotIds, firstDay.AddDays(days - 1), cancellationToken);
        await ExecuteAsync(connection, "SET session_replication_role = DEFAULT", cancellationToken);
        await ExecuteAsync(connection, "SET maintenance_work_mem = '1GB'", cancellationToken);
        foreach (var (name, definition) in indexes)
        {
            await ExecuteAsync(connection, definition, cancellationToken);
            progress($"index {name} at {clock.Elapsed.TotalSeconds:F1} s");
        }
        foreach (var table in Tables)
            await ExecuteAsync(connection, $"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(max(id), 1) FROM {table}))", cancellationToken);
        // As autovacuum would leave a table nobody writes to: statistics and the visibility map.
        await ExecuteAsync(connection, $"VACUUM (ANALYZE) {string.Join(", ", seed is { WritesRollups: true } ? Tables.Concat(RollupTables) : Tables)}", cancellationToken);
        progress($"{days} days for {userIds.Length:N0} active users from {firstDay:yyyy-MM-dd}" +
                 $"{(seed is null ? "" : $", after {seed.Users:N0} users and openings")} in {clock.Elapsed.TotalSeconds:F1} s");
        if (partitioned)
            await CheckPartitionsAsync(connection, firstMonth, cancellationToken);
    }

    /// <summary>Months the core server's history-maintenance keeps created ahead of the day it runs for (HistoryPartitions.MonthsAhead).</summary>
    private const int MonthsAhead = 2;

    private static readonly string[] PartitionedTables = ["daily_asset_snapshots", "asset_changes"];

    /// <summary>
    /// The core server's partition of <paramref name="table"/> for <paramref name="month"/>, named as HistoryPartitions.PartitionName
    /// names it (e.g. daily_asset_snapshots_y2026m12): its history-maintenance finds, and later drops, the months seeded here.
    /// </summary>
    public static string PartitionName(string table, DateOnly month) =>
        string.Create(CultureInfo.InvariantCulture, $"{table}_y{month.Year:0000}m{month.Month:00}");

    /// <summary>Whether the history is range-partitioned by month (PostgreSQL since the core server's MonthlyPartitions migration).</summary>
    private static async Task<bool> IsPartitionedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('daily_asset_snapshots'))", connection);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// One partition per month from <paramref name="first"/> to <paramref name="last"/> for both tables, where missing, as a
    /// server that ran through those months has them (its migration creates three, history-maintenance the rest ahead of need).
    /// Without them every day past the migration's months would land in the default partitions.
    /// </summary>
    private async Task CreateMonthPartitionsAsync(NpgsqlConnection connection, DateOnly first, DateOnly last, CancellationToken cancellationToken)
    {
        for (var month = first; month <= last; month = month.AddMonths(1))
        {
            var bounds = string.Create(CultureInfo.InvariantCulture, $"FROM ('{month:yyyy-MM-dd}') TO ('{month.AddMonths(1):yyyy-MM-dd}')");
            foreach (var table in PartitionedTables)
                await ExecuteAsync(connection, $"CREATE TABLE IF NOT EXISTS {PartitionName(table, month)} PARTITION OF {table} FOR VALUES {bounds}", cancellationToken);
        }
        progress($"partitions: one a month from {first:yyyy-MM} to {last:yyyy-MM} for {string.Join(" and ", PartitionedTables)}");
    }

    /// <summary>
    /// Prints the rows of every partition of both tables (the month partitions' from the statistics the VACUUM just took, the
    /// defaults' counted) and fails if a default partition holds a row dated on or after <paramref name="firstMonth"/>: a day
    /// that found no month partition, which a server that ran through the month would not have there.
    /// </summary>
    private async Task CheckPartitionsAsync(NpgsqlConnection connection, DateOnly firstMonth, CancellationToken cancellationToken)
    {
        foreach (var table in PartitionedTables)
        {
            var rows = new List<string>();
            await using (var read = new NpgsqlCommand("""
                SELECT c.relname::text, c.reltuples::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = to_regclass(@table) AND c.relname::text <> @table || '_default' ORDER BY c.relname
                """, connection))
            {
                read.Parameters.AddWithValue("table", table);
                await using var reader = await read.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                    rows.Add($"{reader.GetString(0)[(table.Length + 1)..]} {Math.Max(0, reader.GetInt64(1)):N0}");
            }
            var inDefault = await ScalarAsync(connection, $"SELECT count(*) FROM {table}_default", cancellationToken);
            var stray = await ScalarAsync(connection,
                string.Create(CultureInfo.InvariantCulture, $"SELECT count(*) FROM {table}_default WHERE snapshot_day >= '{firstMonth:yyyy-MM-dd}'"), cancellationToken);
            progress($"{table} rows by partition: {string.Join(", ", rows)}; default {inDefault:N0}");
            if (stray > 0)
                throw new InvalidOperationException($"{table}_default holds {stray:N0} rows dated from {firstMonth:yyyy-MM} on: they found no month partition");
        }
        // An index left invalid (a partitioned one rebuilt ON ONLY its parent) would fail the refresh's ON CONFLICT, not the load.
        await using var invalid = new NpgsqlCommand(
            "SELECT string_agg(indexrelid::regclass::text, ', ') FROM pg_index WHERE NOT indisvalid", connection);
        if (await invalid.ExecuteScalarAsync(cancellationToken) is string names)
            throw new InvalidOperationException($"indexes left invalid by the load: {names}");
    }

    private static readonly string[] RollupTables = ["asset_month_rollups", "asset_rolled_up_months"];

    /// <summary>
    /// One day of an ACTIVE user's history after its opening: the multiplier from 0.97 to 1.03 in steps of 0.0001 (inside the
    /// contract's daily bound) and the reward on about one user-day in 100 both follow (user, day), so the daily rows and
    /// the roll-ups of the same day agree.
    /// </summary>
    private static (double Multiplier, long Moved, long NetFlow) DayOf(long user, DateOnly day, long opening)
    {
        var hash = Mix((ulong)user * 1_000_003UL + (ulong)day.DayNumber);
        var multiplier = 0.97 + (hash % 601) / 10_000.0;
        var moved = (long)Math.Round(opening * multiplier, MidpointRounding.AwayFromZero);
        return (multiplier, moved, (hash >> 20) % 100 == 0 ? Reward : 0);
    }

    private static DateOnly FirstOfMonth(DateOnly day) => new(day.Year, day.Month, 1);

    /// <summary>
    /// The rolled-up months before <paramref name="dailyFrom"/>, a month at a time as the lifecycle writes them, every user
    /// with a day in the month by id: each ACTIVE user's days from the opening folded as AssetHistoryLifecycle.RollUpAsync
    /// folds them (<paramref name="closings"/> ends on the last month's closings), and the users not ACTIVE in the opening's
    /// month with their opening alone; then the months recorded, their daily rows deleted.
    /// </summary>
    private static async Task CopyRollupsAsync(
        NpgsqlConnection connection, Seed seed, long[] activeIds, long[] closings, DateOnly dailyFrom, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var months = new List<(DateOnly Month, long Users)>();
        for (var month = FirstOfMonth(seed.OpeningDay); month < dailyFrom; month = month.AddMonths(1))
        {
            var first = month < seed.OpeningDay ? seed.OpeningDay : month;
            var last = month.AddMonths(1).AddDays(-1);
            long rows = 0;
            await using (var copy = await connection.BeginBinaryImportAsync(
                "COPY asset_month_rollups (user_id, month, first_day, last_day, days, opening_amount, closing_amount, net_flow, market_multiplier) FROM STDIN (FORMAT BINARY)",
                cancellationToken))
            {
                var i = 0;
                for (long user = 1; user <= seed.Users; user++)
                {
                    var active = i < activeIds.Length && activeIds[i] == user;
                    if (!active && month != FirstOfMonth(seed.OpeningDay))
                        continue;
                    var opening = active ? closings[i] : StartAmount;
                    var (closing, netFlow, product) = (opening, 0L, 1.0);
                    // The opening day has no market move (its multiplier NULL, 1.0 in the product); a user not ACTIVE has no other day.
                    for (var day = first == seed.OpeningDay ? first.AddDays(1) : first; active && day <= last; day = day.AddDays(1))
                    {
                        var (multiplier, moved, flow) = DayOf(user, day, closing);
                        closing = moved + flow;
                        netFlow += flow;
                        product *= multiplier;
                    }
                    copy.StartRow();
                    copy.Write(user, NpgsqlDbType.Bigint);
                    copy.Write(month, NpgsqlDbType.Date);
                    copy.Write(first, NpgsqlDbType.Date);
                    copy.Write(active ? last : first, NpgsqlDbType.Date);
                    copy.Write(active ? last.DayNumber - first.DayNumber + 1 : 1, NpgsqlDbType.Integer);
                    copy.Write(opening, NpgsqlDbType.Bigint);
                    copy.Write(closing, NpgsqlDbType.Bigint);
                    copy.Write(netFlow, NpgsqlDbType.Bigint);
                    copy.Write(product, NpgsqlDbType.Double);
                    rows++;
                    if (active)
                        closings[i++] = closing;
                }
                await copy.CompleteAsync(cancellationToken);
            }
            months.Add((month, rows));
        }
        await CopyRolledUpMonthsAsync(connection, months, now, sealedAndDeleted: true, cancellationToken);
    }

    /// <summary>
    /// Records rolled-up months as the lifecycle does: rolled up (every user's roll-up written) and, when
    /// <paramref name="sealedAndDeleted"/>, sealed (left the daily history, taking no write) and their daily rows deleted.
    /// A build from before months were rolled up as they close (read.sh --baseline) has no <c>sealed_at</c>: there every
    /// rolled-up month was let go.
    /// </summary>
    private static async Task CopyRolledUpMonthsAsync(
        NpgsqlConnection connection, IReadOnlyList<(DateOnly Month, long Users)> months, DateTimeOffset now, bool sealedAndDeleted, CancellationToken cancellationToken)
    {
        var sealable = await HasColumnAsync(connection, "asset_rolled_up_months", "sealed_at", cancellationToken);
        if (!sealable && !sealedAndDeleted)
            throw new InvalidOperationException("asset_rolled_up_months has no sealed_at: this schema rolls a month up only as it lets it go");
        await using var copy = await connection.BeginBinaryImportAsync(
            $"COPY asset_rolled_up_months (month, users, rolled_up_at{(sealable ? ", sealed_at" : "")}, daily_rows_deleted_at) FROM STDIN (FORMAT BINARY)",
            cancellationToken);
        foreach (var (month, users) in months)
        {
            copy.StartRow();
            copy.Write(month, NpgsqlDbType.Date);
            copy.Write(users, NpgsqlDbType.Bigint);
            copy.Write(now, NpgsqlDbType.TimestampTz);
            if (sealable)
                WriteTimeOrNull(copy, sealedAndDeleted ? now : null);
            WriteTimeOrNull(copy, sealedAndDeleted ? now : null);
        }
        await copy.CompleteAsync(cancellationToken);
    }

    private static void WriteTimeOrNull(NpgsqlBinaryImporter copy, DateTimeOffset? at)
    {
        if (at is { } value)
            copy.Write(value, NpgsqlDbType.TimestampTz);
        else
            copy.WriteNull();
    }

    /// <summary>
    /// The roll-ups of the months a seed writes daily and that closed before its last day's month, as
    /// <c>AssetHistoryLifecycle</c> writes them when each month closes (its daily rows stay, the month is recorded rolled up
    /// and not sealed): one row per user with a day in the month, with the figures <see cref="CopyRollupsAsync"/> computes,
    /// folded from the days as they are written. A month is copied when the first day of the next is about to be written.
    /// </summary>
    private sealed class ClosedMonthRollups
    {
        private readonly Seed seed;
        private readonly long[] activeIds;
        private readonly DateOnly lastMonth;
        private readonly DateTimeOffset now;
        private readonly long[] openings;
        private readonly long[] netFlows;
        private readonly double[] products;
        private readonly List<(DateOnly Month, long Users)> months = [];
        private DateOnly firstDay;
        private DateOnly lastDay;
        private int days;

        /// <param name="closings">Each ACTIVE user's closing before <paramref name="dailyFrom"/>: the first month's openings.</param>
        public ClosedMonthRollups(Seed seed, long[] activeIds, long[] closings, DateOnly dailyFrom, DateOnly lastMonth, DateTimeOffset now)
        {
            (this.seed, this.activeIds, this.lastMonth, this.now) = (seed, activeIds, lastMonth, now);
            (openings, netFlows, products) = (new long[activeIds.Length], new long[activeIds.Length], new double[activeIds.Length]);
            // A seed that keeps its opening daily starts the first month on the opening day, which has no market move (1.0).
            var fromOpening = seed.RolledUpMonths == 0;
            Start(fromOpening ? seed.OpeningDay : dailyFrom, closings, days: fromOpening ? 1 : 0);
        }

        public int Months => months.Count;

        private bool OpeningMonth => seed.RolledUpMonths == 0 && FirstOfMonth(firstDay) == FirstOfMonth(seed.OpeningDay);

        private void Start(DateOnly first, long[] closings, int days)
        {
            (firstDay, lastDay, this.days) = (first, first, days);
            Array.Copy(closings, openings, closings.Length);
            Array.Clear(netFlows);
            Array.Fill(products, 1.0);
        }

        public void Add(int activeIndex, double multiplier, long netFlow)
        {
            products[activeIndex] *= multiplier;
            netFlows[activeIndex] += netFlow;
        }

        public void DayWritten(DateOnly day) => (lastDay, days) = (day, days + 1);

        public bool IsAfterMonth(DateOnly day) => FirstOfMonth(day) > FirstOfMonth(firstDay);

        /// <summary>Copies the month just written if it closed before the last day's month, and starts the next.</summary>
        public async Task CloseMonthAsync(NpgsqlConnection connection, long[] closings, CancellationToken cancellationToken)
        {
            var month = FirstOfMonth(firstDay);
            if (month < lastMonth && days > 0)
            {
                long rows = 0;
                await using (var copy = await connection.BeginBinaryImportAsync(
                    "COPY asset_month_rollups (user_id, month, first_day, last_day, days, opening_amount, closing_amount, net_flow, market_multiplier) FROM STDIN (FORMAT BINARY)",
                    cancellationToken))
                {
                    var i = 0;
                    for (long user = 1; user <= seed.Users; user++)
                    {
                        var active = i < activeIds.Length && activeIds[i] == user;
                        // A user not ACTIVE has its opening alone, in the opening's month.
                        if (!active && !OpeningMonth)
                            continue;
                        copy.StartRow();
                        copy.Write(user, NpgsqlDbType.Bigint);
                        copy.Write(month, NpgsqlDbType.Date);
                        copy.Write(active ? firstDay : seed.OpeningDay, NpgsqlDbType.Date);
                        copy.Write(active ? lastDay : seed.OpeningDay, NpgsqlDbType.Date);
                        copy.Write(active ? days : 1, NpgsqlDbType.Integer);
                        copy.Write(active ? openings[i] : StartAmount, NpgsqlDbType.Bigint);
                        copy.Write(active ? closings[i] : StartAmount, NpgsqlDbType.Bigint);
                        copy.Write(active ? netFlows[i] : 0L, NpgsqlDbType.Bigint);
                        copy.Write(active ? products[i] : 1.0, NpgsqlDbType.Double);
                        rows++;
                        if (active)
                            i++;
                    }
                    await copy.CompleteAsync(cancellationToken);
                }
                months.Add((month, rows));
            }
            Start(lastDay.AddDays(1), closings, days: 0);
        }

        public Task RecordMonthsAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
            CopyRolledUpMonthsAsync(connection, months, now, sealedAndDeleted: false, cancellationToken);
    }

    private const string ChangesCopySql =
        "COPY asset_changes (user_id, kind, amount_before, amount_after, delta, reason, snapshot_id, snapshot_day, changed_at) FROM STDIN (FORMAT BINARY)";

    private static async Task CopyUsersAndOpeningsAsync(NpgsqlConnection connection, Seed seed, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Opening snapshot ids equal user ids; the pointer (its id and, since the history is partitioned by month on
        // PostgreSQL, its day) starts on the opening and moves once after the load. A build from before the pointer had
        // its day (bench/read.sh --baseline) has no such column.
        var pointerDay = await HasPointerDayAsync(connection, cancellationToken);
        await using (var copy = await connection.BeginBinaryImportAsync(
            $"COPY users (id, status, created_at, opening_day, current_snapshot_id{(pointerDay ? ", current_snapshot_day" : "")}) FROM STDIN (FORMAT BINARY)",
            cancellationToken))
        {
            for (long user = 1; user <= seed.Users; user++)
            {
                copy.StartRow();
                copy.Write(user, NpgsqlDbType.Bigint);
                copy.Write(Status(user, seed.ActivePercent), NpgsqlDbType.Varchar);
                copy.Write(now, NpgsqlDbType.TimestampTz);
                copy.Write(seed.OpeningDay, NpgsqlDbType.Date);
                copy.Write(user, NpgsqlDbType.Bigint);
                if (pointerDay)
                    copy.Write(seed.OpeningDay, NpgsqlDbType.Date);
            }
            await copy.CompleteAsync(cancellationToken);
        }
        // An ACTIVE user's opening lies in a rolled-up month and is not its current snapshot: the lifecycle deleted it and its change.
        bool Kept(long user) => seed.RolledUpMonths == 0 || Status(user, seed.ActivePercent) != "ACTIVE";
        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY daily_asset_snapshots (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at) FROM STDIN (FORMAT BINARY)",
            cancellationToken))
        {
            for (long user = 1; user <= seed.Users; user++)
            {
                if (!Kept(user))
                    continue;
                copy.StartRow();
                copy.Write(user, NpgsqlDbType.Bigint);
                copy.Write(user, NpgsqlDbType.Bigint);
                copy.Write(seed.OpeningDay, NpgsqlDbType.Date);
                copy.Write(StartAmount, NpgsqlDbType.Bigint);
                copy.Write(StartAmount, NpgsqlDbType.Bigint);
                copy.WriteNull();
                copy.Write(0L, NpgsqlDbType.Bigint);
                copy.Write(0L, NpgsqlDbType.Bigint);
                copy.Write(now, NpgsqlDbType.TimestampTz);
            }
            await copy.CompleteAsync(cancellationToken);
        }
        await using (var copy = await connection.BeginBinaryImportAsync(ChangesCopySql, cancellationToken))
        {
            for (long user = 1; user <= seed.Users; user++)
            {
                if (Kept(user))
                    WriteChange(copy, user, "Opening", 0, StartAmount, "bench opening", user, seed.OpeningDay, now);
            }
            await copy.CompleteAsync(cancellationToken);
        }
    }

    private static string Status(long user, int activePercent) =>
        user % 100 < activePercent ? "ACTIVE" : (user % 3) switch { 0 => "INACTIVE", 1 => "SUSPENDED", _ => "CLOSE_REQUESTED" };

    /// <summary>One set-based UPDATE from a COPY'd temporary table: the pointers of every loaded user at once.</summary>
    private static async Task MovePointersAsync(
        NpgsqlConnection connection, long[] userIds, long[] snapshotIds, DateOnly lastDay, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, "CREATE TEMPORARY TABLE bench_pointers (user_id bigint PRIMARY KEY, snapshot_id bigint NOT NULL)", cancellationToken);
        await using (var copy = await connection.BeginBinaryImportAsync("COPY bench_pointers (user_id, snapshot_id) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            for (var i = 0; i < userIds.Length; i++)
            {
                copy.StartRow();
                copy.Write(userIds[i], NpgsqlDbType.Bigint);
                copy.Write(snapshotIds[i], NpgsqlDbType.Bigint);
            }
            await copy.CompleteAsync(cancellationToken);
        }
        var setDay = await HasPointerDayAsync(connection, cancellationToken) ? $", current_snapshot_day = DATE '{lastDay:yyyy-MM-dd}'" : "";
        await ExecuteAsync(connection, $"UPDATE users u SET current_snapshot_id = p.snapshot_id{setDay} FROM bench_pointers p WHERE p.user_id = u.id", cancellationToken);
        await ExecuteAsync(connection, "DROP TABLE bench_pointers", cancellationToken);
    }

    private static Task<bool> HasPointerDayAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        HasColumnAsync(connection, "users", "current_snapshot_day", cancellationToken);

    private static async Task<bool> HasColumnAsync(NpgsqlConnection connection, string table, string column, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = @table AND column_name = @column)", connection);
        command.Parameters.AddWithValue("table", table);
        command.Parameters.AddWithValue("column", column);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<(long[] UserIds, long[] Closings)> ReadActiveBasesAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT u.id, s.closing_amount FROM users u JOIN daily_asset_snapshots s ON s.id = u.current_snapshot_id
             WHERE u.status = 'ACTIVE' ORDER BY u.id
            """, connection) { CommandTimeout = 0 };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var (ids, closings) = (new List<long>(), new List<long>());
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetInt64(0));
            closings.Add(reader.GetInt64(1));
        }
        return ([.. ids], [.. closings]);
    }

    private static async Task<List<(string Name, string Definition)>> DropIndexesAsync(
        NpgsqlConnection connection, string? keep, CancellationToken cancellationToken)
    {
        // A renamed index would otherwise be dropped and rebuilt packed without a word.
        if (keep is not null && await ScalarAsync(connection, $"SELECT count(*) FROM pg_indexes WHERE indexname = '{keep}'", cancellationToken) != 1)
            throw new InvalidOperationException($"index {keep}, to be kept through the load, is not in the schema");
        var indexes = new List<(string Name, string Definition)>();
        await using (var read = new NpgsqlCommand("""
            SELECT i.indexname, i.indexdef FROM pg_indexes i
             WHERE i.tablename = ANY(@tables) AND i.indexname IS DISTINCT FROM @keep
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """, connection))
        {
            read.Parameters.AddWithValue("tables", Tables);
            read.Parameters.AddWithValue("keep", NpgsqlDbType.Text, (object?)keep ?? DBNull.Value);
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                indexes.Add((reader.GetString(0), OnEveryPartition(reader.GetString(1))));
        }
        foreach (var (name, _) in indexes)
            await ExecuteAsync(connection, $"DROP INDEX \"{name}\"", cancellationToken);
        return indexes;
    }

    /// <summary>
    /// A partitioned table's index is defined <c>ON ONLY</c> the parent (pg_indexes shows it so): run as it stands, it
    /// builds an invalid index on the parent and none on the partitions, and the refresh's ON CONFLICT (user_id,
    /// snapshot_day) then finds no unique index. Without ONLY it is built on every partition and is valid.
    /// </summary>
    private static string OnEveryPartition(string definition) => definition.Replace(" ON ONLY ", " ON ", StringComparison.Ordinal);

    private static void WriteChange(
        NpgsqlBinaryImporter copy, long user, string kind, long before, long after, string? reason, long snapshotId, DateOnly day, DateTimeOffset at)
    {
        copy.StartRow();
        copy.Write(user, NpgsqlDbType.Bigint);
        copy.Write(kind, NpgsqlDbType.Varchar);
        copy.Write(before, NpgsqlDbType.Bigint);
        copy.Write(after, NpgsqlDbType.Bigint);
        copy.Write(after - before, NpgsqlDbType.Bigint);
        if (reason is null)
            copy.WriteNull();
        else
            copy.Write(reason, NpgsqlDbType.Varchar);
        copy.Write(snapshotId, NpgsqlDbType.Bigint);
        copy.Write(day, NpgsqlDbType.Date);
        copy.Write(at, NpgsqlDbType.TimestampTz);
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // SplitMix64: a cheap, well-spread hash, so every (user, day) gets the same multiplier in every run.
    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
