using Npgsql;
using NpgsqlTypes;

namespace DontGoBack.Chaos.Oracle;

/// <summary>One update call as the stand-in answered it (its own log): status 0 is a reset connection; the multiplier only on a 200.</summary>
public sealed record OracleCall(long UserId, DateOnly Day, int Status, double? Multiplier);

/// <summary>An adjustment the campaign sent, under its idempotency key; acknowledged when some answer to it was a 200.</summary>
public sealed record SentAdjustment(long UserId, string Key, long Amount, bool Acknowledged);

/// <param name="FirstDay">The campaign's first day; <paramref name="LastDay"/> its last.</param>
/// <param name="CallsPerPass">
/// The most calls one pass over a user may make (the core server's first try, its retries and one more after a token
/// refresh): a day's calls per user stay within this times (the run's attempts + 1, a node's partition run again).
/// </param>
/// <param name="Deadlines">Each day's completion deadline as an instant: a day whose run finished after it must have raised its alert and resolved it.</param>
/// <param name="Job">The daily job whose runs are checked.</param>
public sealed record OracleInput(
    DateOnly FirstDay, DateOnly LastDay, IEnumerable<OracleCall> Calls, IReadOnlyList<SentAdjustment> Adjustments, int CallsPerPass,
    IReadOnlyDictionary<DateOnly, DateTimeOffset> Deadlines, string Job = "asset-refresh");

/// <summary>What one check found: how many and the first few, in words.</summary>
public sealed record OracleFinding(string Check, string Property, long Found, IReadOnlyList<string> Examples);

public sealed record OracleReport(IReadOnlyList<OracleFinding> Findings)
{
    public bool Passed => Findings.All(f => f.Found == 0);

    public long Found(string check) => Findings.Single(f => f.Check == check).Found;

    /// <summary>A markdown table, one row per check.</summary>
    public string ToTable()
    {
        var lines = new List<string> { "| check | property | found | first findings |", "|---|---|---:|---|" };
        lines.AddRange(Findings.Select(f => $"| {f.Check} | {f.Property} | {f.Found:N0} | {string.Join("; ", f.Examples)} |"));
        return string.Join('\n', lines);
    }
}

/// <summary>
/// The campaign's independent oracle: it reads the database's tables with its own SQL and the stand-in's call log,
/// never the core server's reports or code, and checks the issue's properties (issue 28): one snapshot per ACTIVE user
/// and day, an unbroken chain, every adjustment applied exactly once, extension calls within the retry bound and every
/// written day backed by an answer, each day's run record adding up, every late day alerted and resolved, and each month
/// rolled up while still daily saying what its days say.
/// PostgreSQL only, as the campaign is.
/// </summary>
public static class ChaosOracle
{
    public const string SnapshotsMissing = "snapshots_missing";
    public const string SnapshotsDoubled = "snapshots_doubled";
    public const string ChainBreaks = "chain_breaks";
    public const string AdjustmentsLost = "adjustments_lost";
    public const string AdjustmentsDoubled = "adjustments_doubled";
    public const string AdjustmentsAltered = "adjustments_altered";
    public const string CallsOverBound = "calls_over_bound";
    public const string SnapshotsWithoutAnswer = "snapshots_without_answer";
    public const string MultipliersDiffer = "multipliers_differ";
    public const string RunsNotCompleted = "runs_not_completed";
    public const string RunRecordsDisagree = "run_records_disagree";
    public const string AlertsMissing = "alerts_missing";
    public const string RollupsStale = "rollups_stale";

    private const int Examples = 5;

    public static async Task<OracleReport> CheckAsync(string connectionString, OracleInput input, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await LoadAsync(connection, input, cancellationToken);
        var findings = new List<OracleFinding>();
        foreach (var (check, property, sql) in Checks)
            findings.Add(await RunAsync(connection, check, property, sql, input, cancellationToken));
        return new OracleReport(findings);
    }

    /// <summary>The call log and the sent adjustments, copied into temporary tables so every check is one statement.</summary>
    private static async Task LoadAsync(NpgsqlConnection connection, OracleInput input, CancellationToken cancellationToken)
    {
        await using (var create = new NpgsqlCommand("""
            CREATE TEMP TABLE oracle_calls (user_id bigint NOT NULL, day date NOT NULL, status int NOT NULL, multiplier double precision);
            CREATE TEMP TABLE oracle_adjustments (user_id bigint NOT NULL, key text NOT NULL, amount bigint NOT NULL, acknowledged boolean NOT NULL);
            """, connection))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }
        await using (var calls = await connection.BeginBinaryImportAsync(
                         "COPY oracle_calls (user_id, day, status, multiplier) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            foreach (var call in input.Calls)
            {
                await calls.StartRowAsync(cancellationToken);
                await calls.WriteAsync(call.UserId, NpgsqlDbType.Bigint, cancellationToken);
                await calls.WriteAsync(call.Day, NpgsqlDbType.Date, cancellationToken);
                await calls.WriteAsync(call.Status, NpgsqlDbType.Integer, cancellationToken);
                if (call.Multiplier is { } multiplier)
                    await calls.WriteAsync(multiplier, NpgsqlDbType.Double, cancellationToken);
                else
                    await calls.WriteNullAsync(cancellationToken);
            }
            await calls.CompleteAsync(cancellationToken);
        }
        await using (var adjustments = await connection.BeginBinaryImportAsync(
                         "COPY oracle_adjustments (user_id, key, amount, acknowledged) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            foreach (var sent in input.Adjustments)
            {
                await adjustments.StartRowAsync(cancellationToken);
                await adjustments.WriteAsync(sent.UserId, NpgsqlDbType.Bigint, cancellationToken);
                await adjustments.WriteAsync(sent.Key, NpgsqlDbType.Text, cancellationToken);
                await adjustments.WriteAsync(sent.Amount, NpgsqlDbType.Bigint, cancellationToken);
                await adjustments.WriteAsync(sent.Acknowledged, NpgsqlDbType.Boolean, cancellationToken);
            }
            await adjustments.CompleteAsync(cancellationToken);
        }
        await using var analyze = new NpgsqlCommand("ANALYZE oracle_calls; ANALYZE oracle_adjustments;", connection);
        await analyze.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<OracleFinding> RunAsync(
        NpgsqlConnection connection, string check, string property, string sql, OracleInput input, CancellationToken cancellationToken)
    {
        // Each check's query yields one line of words per finding; the count comes with the first few.
        await using var command = new NpgsqlCommand($"SELECT count(*) OVER (), what FROM ({sql}) AS findings(what) ORDER BY what LIMIT {Examples}", connection);
        command.CommandTimeout = 0;
        command.Parameters.AddWithValue("first", NpgsqlDbType.Date, input.FirstDay);
        command.Parameters.AddWithValue("last", NpgsqlDbType.Date, input.LastDay);
        command.Parameters.AddWithValue("job", NpgsqlDbType.Text, input.Job);
        command.Parameters.AddWithValue("calls_per_pass", NpgsqlDbType.Integer, input.CallsPerPass);
        var deadlines = input.Deadlines.OrderBy(d => d.Key).ToList();
        command.Parameters.AddWithValue("deadline_days", NpgsqlDbType.Array | NpgsqlDbType.Date, deadlines.Select(d => d.Key).ToArray());
        command.Parameters.AddWithValue("deadlines", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz, deadlines.Select(d => d.Value.UtcDateTime).ToArray());
        long found = 0;
        var examples = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            found = reader.GetInt64(0);
            examples.Add(reader.GetString(1));
        }
        return new OracleFinding(check, property, found, examples);
    }

    /// <summary>Each check: its name, the property in words, and a query of one text column, a row per finding.</summary>
    private static readonly (string Check, string Property, string Sql)[] Checks =
    [
        (SnapshotsMissing, "every user ACTIVE on a day has a snapshot for it", """
            SELECT 'user ' || u.id || ' on ' || d.day::date
              FROM users u CROSS JOIN generate_series(@first::timestamp, @last::timestamp, interval '1 day') AS d(day)
             WHERE u.status = 'ACTIVE' AND u.opening_day <= d.day::date
               AND NOT EXISTS (SELECT 1 FROM daily_asset_snapshots s WHERE s.user_id = u.id AND s.snapshot_day = d.day::date)
            """),
        (SnapshotsDoubled, "no user has two snapshots for one day", """
            SELECT 'user ' || user_id || ' on ' || snapshot_day || ': ' || count(*) || ' snapshots'
              FROM daily_asset_snapshots GROUP BY user_id, snapshot_day HAVING count(*) > 1
            """),
        (ChainBreaks, "each snapshot opens at the previous closing, closes at opening + market delta (its multiplier's) + net flow, none predates the account, the pointer is on the newest", """
            WITH chain AS (
                SELECT s.id, s.user_id, s.snapshot_day, s.opening_amount, s.closing_amount, s.market_multiplier, s.market_delta, s.net_flow,
                       LAG(s.closing_amount) OVER (PARTITION BY s.user_id ORDER BY s.snapshot_day, s.id) AS previous_closing,
                       ROW_NUMBER() OVER (PARTITION BY s.user_id ORDER BY s.snapshot_day DESC, s.id DESC) AS newest
                  FROM daily_asset_snapshots s)
            SELECT 'user ' || user_id || ' on ' || snapshot_day || ': opens at ' || opening_amount || ', the previous closed at ' || previous_closing
              FROM chain WHERE previous_closing IS NOT NULL AND opening_amount <> previous_closing
            UNION ALL
            SELECT 'user ' || user_id || ' on ' || snapshot_day || ': closes at ' || closing_amount || ', not ' || (opening_amount + market_delta + net_flow)
              FROM chain WHERE closing_amount <> opening_amount + market_delta + net_flow
            UNION ALL
            SELECT 'user ' || user_id || ' on ' || snapshot_day || ': market delta ' || market_delta || ' is not its multiplier''s'
              FROM chain WHERE (market_multiplier IS NULL AND market_delta <> 0)
                            OR abs(market_delta - (round(opening_amount * market_multiplier) - opening_amount)) > 1
            UNION ALL
            SELECT 'user ' || c.user_id || ' on ' || c.snapshot_day || ': before the account opened on ' || u.opening_day
              FROM chain c JOIN users u ON u.id = c.user_id WHERE c.snapshot_day < u.opening_day
            UNION ALL
            SELECT 'user ' || u.id || ': the pointer is not on the newest snapshot (' || c.snapshot_day || ')'
              FROM users u JOIN chain c ON c.user_id = u.id AND c.newest = 1 WHERE u.current_snapshot_id IS DISTINCT FROM c.id
            """),
        // Summed here by month of its own, the product compared within a relative 1e-12 (a sum of logarithms, not the server's product).
        (RollupsStale, "a month rolled up and still daily has one roll-up per user with days in it, saying what those days say", """
            WITH days AS (
                SELECT s.user_id, m.month, count(*) AS days, min(s.snapshot_day) AS first_day, max(s.snapshot_day) AS last_day,
                       sum(s.net_flow) AS net_flow, exp(sum(ln(coalesce(s.market_multiplier, 1)))) AS multiplier,
                       (array_agg(s.opening_amount ORDER BY s.snapshot_day))[1] AS opening,
                       (array_agg(s.closing_amount ORDER BY s.snapshot_day DESC))[1] AS closing
                  FROM asset_rolled_up_months m
                  JOIN daily_asset_snapshots s ON s.snapshot_day >= m.month AND s.snapshot_day < m.month + interval '1 month'
                 WHERE m.rolled_up_at IS NOT NULL AND m.sealed_at IS NULL
                 GROUP BY s.user_id, m.month)
            SELECT 'user ' || d.user_id || ' in ' || to_char(d.month, 'YYYY-MM') || ': '
                   || coalesce('roll-up of ' || r.days || ' days ' || r.first_day || '..' || r.last_day || ', ' || r.opening_amount || ' to '
                               || r.closing_amount || ', net ' || r.net_flow || ', x' || r.market_multiplier, 'no roll-up')
                   || '; its days ' || d.days || ' ' || d.first_day || '..' || d.last_day || ', ' || d.opening || ' to ' || d.closing
                   || ', net ' || d.net_flow || ', x' || d.multiplier
              FROM days d LEFT JOIN asset_month_rollups r ON r.user_id = d.user_id AND r.month = d.month
             WHERE r.user_id IS NULL
                OR (r.days, r.first_day, r.last_day, r.opening_amount, r.closing_amount, r.net_flow)
                   IS DISTINCT FROM (d.days, d.first_day, d.last_day, d.opening, d.closing, d.net_flow)
                OR abs(r.market_multiplier - d.multiplier) > 1e-12 * d.multiplier
            """),
        (AdjustmentsLost, "every acknowledged adjustment is in the history", """
            SELECT 'key ' || a.key || ' of user ' || a.user_id
              FROM oracle_adjustments a
             WHERE a.acknowledged AND NOT EXISTS (SELECT 1 FROM asset_changes c WHERE c.user_id = a.user_id AND c.idempotency_key = a.key)
            """),
        // The reason carries the key too, in brackets (the campaign writes "chaos [key]"), so a second application under another key or none is seen.
        (AdjustmentsDoubled, "no adjustment is applied twice", """
            SELECT 'key ' || a.key || ' of user ' || a.user_id || ' applied ' || count(c.id) || ' times'
              FROM oracle_adjustments a
              JOIN asset_changes c ON c.user_id = a.user_id AND (c.idempotency_key = a.key OR strpos(c.reason, '[' || a.key || ']') > 0)
             GROUP BY a.user_id, a.key HAVING count(c.id) > 1
            """),
        (AdjustmentsAltered, "an applied adjustment moved the asset by the amount sent", """
            SELECT 'key ' || a.key || ' of user ' || a.user_id || ': sent ' || a.amount || ', applied ' || c.delta
              FROM oracle_adjustments a JOIN asset_changes c ON c.user_id = a.user_id AND c.idempotency_key = a.key
             WHERE c.delta <> a.amount
            """),
        (CallsOverBound, "extension calls per user and day stay within the retry bound", """
            SELECT 'user ' || c.user_id || ' on ' || c.day || ': ' || count(*) || ' calls, bound ' || (@calls_per_pass * (coalesce(max(r.attempts), 0) + 1))
              FROM oracle_calls c LEFT JOIN batch_runs r ON r.job_name = @job AND r.day = c.day
             GROUP BY c.user_id, c.day HAVING count(*) > @calls_per_pass * (coalesce(max(r.attempts), 0) + 1)
            """),
        (SnapshotsWithoutAnswer, "every refreshed snapshot answers a successful call of its user and day", """
            SELECT 'user ' || s.user_id || ' on ' || s.snapshot_day
              FROM daily_asset_snapshots s JOIN users u ON u.id = s.user_id
             WHERE s.snapshot_day BETWEEN @first AND @last AND s.snapshot_day > u.opening_day
               AND NOT EXISTS (SELECT 1 FROM oracle_calls c WHERE c.user_id = s.user_id AND c.day = s.snapshot_day AND c.status = 200)
            """),
        (MultipliersDiffer, "each refreshed snapshot holds the multiplier the extension answered", """
            SELECT DISTINCT 'user ' || s.user_id || ' on ' || s.snapshot_day || ': ' || s.market_multiplier || ' stored, ' || c.multiplier || ' answered'
              FROM daily_asset_snapshots s JOIN oracle_calls c ON c.user_id = s.user_id AND c.day = s.snapshot_day AND c.status = 200
             WHERE s.market_multiplier IS DISTINCT FROM c.multiplier
            """),
        (RunsNotCompleted, "each day's run is completed after the final pass", """
            SELECT d.day::date || ': ' || coalesce(r.status, 'no run')
              FROM generate_series(@first::timestamp, @last::timestamp, interval '1 day') AS d(day)
              LEFT JOIN batch_runs r ON r.job_name = @job AND r.day = d.day::date
             WHERE r.status IS DISTINCT FROM 'Completed'
            """),
        // What the day's attempts say they wrote cannot exceed what the database holds of the day, and the record counts its attempts.
        (RunRecordsDisagree, "each day's run record and attempts add up to what the database holds", """
            SELECT r.day || ': ' || r.attempts || ' attempts recorded, ' || count(a.attempt) || ' attempt rows; '
                   || coalesce(sum(a.success), 0) || ' refreshed by the attempts, ' || max(w.written) || ' snapshots written; failed ' || r.failed
              FROM batch_runs r
              LEFT JOIN batch_run_attempts a ON a.run_id = r.id
              CROSS JOIN LATERAL (SELECT count(*) AS written FROM daily_asset_snapshots s JOIN users u ON u.id = s.user_id
                                   WHERE s.snapshot_day = r.day AND s.snapshot_day > u.opening_day) w
             WHERE r.job_name = @job AND r.day BETWEEN @first AND @last
             GROUP BY r.id, r.day, r.attempts, r.failed
            HAVING r.attempts <> count(a.attempt) OR coalesce(sum(a.success), 0) > max(w.written) OR r.failed <> 0
            """),
        // A day's finish is its first attempt that went through (failures left for a later pass included), else the run's end.
        (AlertsMissing, "a day through after its deadline raised its alert, and the alert resolved", """
            SELECT d.day || ': through ' || f.through || ' after ' || d.deadline || ', '
                   || CASE WHEN NOT EXISTS (SELECT 1 FROM batch_alerts x WHERE x.job_name = @job AND x.day = d.day AND x.kind = 'Raised')
                           THEN 'no alert raised' ELSE 'the alert never resolved' END
              FROM unnest(@deadline_days, @deadlines) AS d(day, deadline)
              JOIN batch_runs r ON r.job_name = @job AND r.day = d.day
             CROSS JOIN LATERAL (SELECT coalesce(min(a.finished_at), r.finished_at) AS through FROM batch_run_attempts a
                                  WHERE a.run_id = r.id AND a.status IN ('Completed', 'CompletedWithFailures', 'NothingToDo')) f
             WHERE f.through > d.deadline
               AND (NOT EXISTS (SELECT 1 FROM batch_alerts x WHERE x.job_name = @job AND x.day = d.day AND x.kind = 'Raised')
                 OR NOT EXISTS (SELECT 1 FROM batch_alerts x WHERE x.job_name = @job AND x.day = d.day AND x.kind = 'Resolved'))
            """),
    ];
}
