using System.Diagnostics;
using Npgsql;

namespace DontGoBack.ConsoleBench;

/// <summary>What the console bench opens, as the seed made it: the day of the run with many failures and a user with history.</summary>
public sealed record SeededData(long FailureRunId, DateOnly FailureDay, long HistoryUserId, long FailedUserId);

/// <summary>
/// The console's large data set besides the users: <c>years</c> × 365 daily runs of the asset refresh ending on
/// the last day (each with its attempts and four partitions), one run — the day before the last — with
/// <c>failures</c> failed users, about twenty failures on every other day that completed with failures, and
/// operator actions over the years. All set-based (<c>INSERT … SELECT generate_series</c>): seconds, not the
/// measurement. Statuses and counts follow the day's number, so two runs seed the same rows.
/// </summary>
public sealed class ConsoleData(NpgsqlDataSource dataSource, Action<string> progress)
{
    public const string Job = "asset-refresh";

    public async Task SeedAsync(DateOnly lastDay, int years, int failures, int operatorActions, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var activeUsers = await ScalarAsync<long>(connection, "SELECT count(*) FROM users WHERE status = 'ACTIVE'", cancellationToken);
        var maxUser = await ScalarAsync<long>(connection, "SELECT COALESCE(max(id), 0) FROM users", cancellationToken);
        var failureDay = lastDay.AddDays(-1);
        // Every failed user a real one: ids spread evenly over the population.
        var step = Math.Max(1, maxUser / failures);
        var parameters = new Dictionary<string, object>
        {
            ["last_day"] = lastDay, ["days"] = years * 365, ["active"] = (int)activeUsers, ["failure_day"] = failureDay,
            ["failures"] = failures, ["step"] = step, ["actions"] = operatorActions,
        };

        await ExecuteAsync(connection, "TRUNCATE batch_runs, batch_run_attempts, batch_run_partitions, asset_refresh_failures, operator_actions RESTART IDENTITY", parameters, cancellationToken);
        // d = 0 is the last day. The day with many failures completed with them; otherwise one day in 11 completed with
        // about twenty failures, one in 97 failed after two attempts (extension unreachable), one in 89 was aborted
        // on its first attempt and completed on its second; the rest completed on the first. Each took 20 to 40 minutes.
        await ExecuteAsync(connection, """
            INSERT INTO batch_runs (job_name, day, status, started_at, finished_at, heartbeat_at, lease_owner, nodes, attempts, total, success, skipped, failed, error)
            SELECT @job, day, status, started, started + duration, started + duration, NULL, 'node-a,node-b', attempts,
                   @active, @active - failed - CASE WHEN status = 'Failed' THEN @active / 3 ELSE 0 END, 0, failed,
                   CASE WHEN status = 'Failed' THEN 'extension unreachable: connection refused (3 tries)' END
              FROM (SELECT @last_day - d AS day, d,
                           CASE WHEN @last_day - d = @failure_day THEN 'CompletedWithFailures'
                                WHEN d % 97 = 13 THEN 'Failed'
                                WHEN d % 11 = 5 THEN 'CompletedWithFailures'
                                ELSE 'Completed' END AS status,
                           CASE WHEN @last_day - d = @failure_day THEN @failures WHEN d % 97 = 13 THEN 0 WHEN d % 11 = 5 THEN 20 ELSE 0 END AS failed,
                           CASE WHEN d % 97 = 13 OR d % 89 = 7 THEN 2 ELSE 1 END AS attempts,
                           ((@last_day - d)::timestamp + interval '15 hours') AT TIME ZONE 'UTC' AS started,
                           make_interval(mins => 20 + (d * 7) % 21) AS duration
                      FROM generate_series(0, @days - 1) AS d) AS days
            """.Replace("@job", $"'{Job}'"), parameters, cancellationToken);
        await ExecuteAsync(connection, """
            INSERT INTO batch_run_attempts (run_id, attempt, status, started_at, updated_at, finished_at, expected, total, success, skipped, failed, error, node)
            SELECT r.id, a, CASE WHEN a < r.attempts THEN (CASE WHEN r.status = 'Failed' THEN 'Failed' ELSE 'Aborted' END) ELSE r.status END,
                   r.started_at + (a - 1) * interval '1 hour', r.finished_at + (a - 1) * interval '1 hour', r.finished_at + (a - 1) * interval '1 hour',
                   r.total, r.total, r.success, r.skipped, r.failed, CASE WHEN a < r.attempts OR r.status = 'Failed' THEN 'extension unreachable: connection refused (3 tries)' END,
                   CASE WHEN a % 2 = 1 THEN 'node-a' ELSE 'node-b' END
              FROM batch_runs r CROSS JOIN LATERAL generate_series(1, r.attempts) AS a
            """, parameters, cancellationToken);
        await ExecuteAsync(connection, """
            INSERT INTO batch_run_partitions (run_id, partition_no, first_user_id, last_user_id, status, node, total, success, skipped, failed, expected, finished_at)
            SELECT r.id, p, (p - 1) * (@max_user / 4) + 1, CASE WHEN p = 4 THEN @max_user ELSE p * (@max_user / 4) END,
                   CASE WHEN r.status = 'Failed' THEN 'Failed' ELSE 'Done' END, CASE WHEN p % 2 = 1 THEN 'node-a' ELSE 'node-b' END,
                   r.total / 4, r.success / 4, 0, r.failed / 4, r.total / 4, r.finished_at
              FROM batch_runs r CROSS JOIN generate_series(1, 4) AS p
            """.Replace("@max_user", maxUser.ToString(System.Globalization.CultureInfo.InvariantCulture)), parameters, cancellationToken);
        progress($"{years * 365:N0} runs with attempts and partitions at {clock.Elapsed.TotalSeconds:F1} s");

        // The big day's failures: classes and reasons follow the user, so every search has work (a class about a
        // third, a reason word about a fifth, a user id one row).
        await ExecuteAsync(connection, $"""
            INSERT INTO asset_refresh_failures (snapshot_day, user_id, failure_class, reason, attempts, failed_at)
            SELECT @failure_day, k * @step, {ClassOf("k")}, {ReasonOf("k", "k * @step")}, 1 + k % 3,
                   ((@failure_day)::timestamp + interval '15 hours' + (k % 1200) * interval '1 second') AT TIME ZONE 'UTC'
              FROM generate_series(1, @failures) AS k
            """, parameters, cancellationToken);
        // About twenty on every other day that completed with failures, so the table holds more than one day.
        await ExecuteAsync(connection, $"""
            INSERT INTO asset_refresh_failures (snapshot_day, user_id, failure_class, reason, attempts, failed_at)
            SELECT r.day, k * 997, {ClassOf("k")}, {ReasonOf("k", "k * 997")}, 1, r.finished_at
              FROM batch_runs r CROSS JOIN generate_series(1, 20) AS k
             WHERE r.status = 'CompletedWithFailures' AND r.day <> @failure_day
            """, parameters, cancellationToken);
        progress($"failures at {clock.Elapsed.TotalSeconds:F1} s");

        // Operator actions over the years, one a few days, newest last (ids follow time, as the audit pages them).
        await ExecuteAsync(connection, """
            INSERT INTO operator_actions (at, action, job_name, run_id, day, address, token_name, reason, outcome, detail)
            SELECT ((@last_day - (@days - 1) + (i * (@days - 1) / @actions))::timestamp + interval '16 hours') AT TIME ZONE 'UTC',
                   (ARRAY['Trigger', 'Retry', 'Cancel', 'Pause', 'Resume'])[1 + i % 5], @job,
                   CASE WHEN i % 5 < 3 THEN r.id END, CASE WHEN i % 5 < 3 THEN r.day END, '10.0.' || (i % 7) || '.' || (i % 250), 'admin',
                   CASE WHEN i % 5 IN (2, 3, 4) THEN 'bench: operator reason ' || i END,
                   (ARRAY['Accepted', 'Accepted', 'Accepted', 'Refused', 'Failed'])[1 + i % 5],
                   'bench action ' || i
              FROM generate_series(1, @actions) AS i
              LEFT JOIN batch_runs r ON r.job_name = @job AND r.day = @last_day - (@days - 1) + (i * (@days - 1) / @actions)
             ORDER BY i
            """.Replace("@job", $"'{Job}'"), parameters, cancellationToken);
        await ExecuteAsync(connection, "VACUUM (ANALYZE) batch_runs, batch_run_attempts, batch_run_partitions, asset_refresh_failures, operator_actions", parameters, cancellationToken);

        progress($"{operatorActions:N0} operator actions; console data seeded in {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Finds what the page requests open in the seeded data: the run with the most failures, one of its failed users, a user with history.</summary>
    public async Task<SeededData> FindAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var runId = await ScalarAsync<long>(connection, $"SELECT id FROM batch_runs WHERE job_name = '{Job}' ORDER BY failed DESC, id LIMIT 1", cancellationToken);
        var day = await ScalarAsync<DateOnly>(connection, $"SELECT day FROM batch_runs WHERE id = {runId}", cancellationToken);
        var failedUser = await ScalarAsync<long>(connection,
            $"SELECT user_id FROM asset_refresh_failures WHERE snapshot_day = '{day:yyyy-MM-dd}' ORDER BY user_id OFFSET (SELECT count(*) / 2 FROM asset_refresh_failures WHERE snapshot_day = '{day:yyyy-MM-dd}') LIMIT 1",
            cancellationToken);
        // A user the seeder gave the full history (ACTIVE), in the middle of the population.
        var historyUser = await ScalarAsync<long>(connection,
            "SELECT min(id) FROM users WHERE status = 'ACTIVE' AND id >= (SELECT max(id) / 2 FROM users)", cancellationToken);
        return new SeededData(runId, day, historyUser, failedUser);
    }

    private static string ClassOf(string k) => $"(ARRAY['Transient', 'Permanent', 'Auth'])[1 + {k} % 3]";

    // Five shapes of reason, the user's id in each, as the refresh writes them (a status and where it came from).
    private static string ReasonOf(string k, string user) => $"""
        CASE {k} % 5
          WHEN 0 THEN 'timeout after 10 s calling update-asset for user ' || {user} || ' (3 tries)'
          WHEN 1 THEN 'HTTP 400 from update-asset for user ' || {user} || ': amount out of range'
          WHEN 2 THEN 'HTTP 503 from update-asset for user ' || {user} || ' (3 tries)'
          WHEN 3 THEN 'invalid answer for user ' || {user} || ': closing amount missing'
          ELSE 'HTTP 401 for user ' || {user} || ': token refused after a fresh token' END
        """;

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, Dictionary<string, object> parameters, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        foreach (var (name, value) in parameters)
            if (sql.Contains('@' + name, StringComparison.Ordinal))
                command.Parameters.AddWithValue(name, value);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            throw new InvalidOperationException($"no row: {sql}");
        return reader.GetFieldValue<T>(0);
    }
}
