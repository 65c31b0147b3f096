using System.Diagnostics;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.MarketSimulation;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.Http;
using static DontGoBack.CoreServer.Tests.Infrastructure.HostileExtensionServer;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The core server against an extension server that misbehaves for one user of three, over real
/// loopback HTTP: every kind of bad answer fails that user alone, with a reason, nothing written
/// for them, and the run neither hangs nor stops.
/// </summary>
public sealed class HostileExtensionTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private const long BaseAmount = 5_000_000;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Result_code_F_in_a_200_answer_fails_that_user(DatabaseProvider provider)
    {
        var outcome = await RunWithOneHostileUserAsync(provider,
            _ => Json(200, """{"resultCode":"F","message":"asset frozen by compliance"}"""));

        AssertFailedAlone(outcome, FailureClass.Permanent, "result code 'F': asset frozen by compliance");
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_answer_for_another_user_fails_that_user(DatabaseProvider provider)
    {
        var outcome = await RunWithOneHostileUserAsync(provider, _ => Success(call =>
        {
            var (multiplier, updated) = Honest(call);
            return ((call.UserId + 1).ToString(), Number(multiplier), updated.ToString());
        }));

        AssertFailedAlone(outcome, FailureClass.Permanent, $"answer is for user {outcome.HostileUser + 1}, not {outcome.HostileUser}");
    }

    [Theory]
    // 1e999 is valid JSON that reads as +∞; "Infinity" is how a lenient serialiser writes it.
    [InlineData(DatabaseProvider.Sqlite, "1e999", "multiplier Infinity is not finite and positive")]
    [InlineData(DatabaseProvider.Postgres, "1e999", "multiplier Infinity is not finite and positive")]
    [InlineData(DatabaseProvider.Sqlite, "\"Infinity\"", "multiplier Infinity is not finite and positive")]
    // A bare NaN is not JSON at all.
    [InlineData(DatabaseProvider.Sqlite, "NaN", "body is not the update-asset JSON")]
    [InlineData(DatabaseProvider.Postgres, "NaN", "body is not the update-asset JSON")]
    public async Task A_non_finite_multiplier_fails_that_user(DatabaseProvider provider, string multiplier, string reason)
    {
        var outcome = await RunWithOneHostileUserAsync(provider, _ => Success(call => (call.UserId.ToString(), multiplier, "0")));

        AssertFailedAlone(outcome, FailureClass.Permanent, reason);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_negative_multiplier_fails_that_user(DatabaseProvider provider)
    {
        var outcome = await RunWithOneHostileUserAsync(provider, _ => Success(call => (call.UserId.ToString(), "-1.01", "0")));

        AssertFailedAlone(outcome, FailureClass.Permanent, "multiplier -1.01 is not finite and positive");
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_multiplier_beyond_the_daily_bound_fails_that_user_even_with_a_consistent_amount(DatabaseProvider provider)
    {
        // 1.2 × 5,000,000 = 6,000,000: the answer agrees with itself, but no market moves 20 % in a day.
        var outcome = await RunWithOneHostileUserAsync(provider, _ => Success(call => (call.UserId.ToString(), "1.2", "6000000")));

        AssertFailedAlone(outcome, FailureClass.Permanent, "multiplier 1.2 is outside the daily bound [0.95, 1.05]");
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_updated_amount_that_is_not_base_times_multiplier_fails_that_user(DatabaseProvider provider)
    {
        var outcome = await RunWithOneHostileUserAsync(provider, _ => Success(call =>
        {
            var (multiplier, updated) = Honest(call);
            return (call.UserId.ToString(), Number(multiplier), (updated + 1_000).ToString());
        }));

        AssertFailedAlone(outcome, FailureClass.Permanent, "is not round(5000000 × ");
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_answer_that_drips_a_byte_at_a_time_fails_that_user_within_its_attempts(DatabaseProvider provider)
    {
        var outcome = await RunWithOneHostileUserAsync(provider, _ => Drip(TimeSpan.FromMilliseconds(100)), new()
        {
            ["Extension:AttemptTimeout"] = "00:00:00.500",
            ["Extension:MaxRetryAttempts"] = "2",
        });

        AssertFailedAlone(outcome, FailureClass.Transient, "timed out after retries");
        // Every attempt was made, each cut off by the attempt timeout: 3 × 0.5 s, nowhere near "forever".
        Assert.Equal(3, outcome.HostileCalls);
        Assert.InRange(outcome.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(20));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task The_user_deadline_ends_a_dripping_answer_before_the_retries_run_out(DatabaseProvider provider)
    {
        // Ten retries of two seconds each would take 22 s; the deadline says 1.5 s.
        var outcome = await RunWithOneHostileUserAsync(provider, _ => Drip(TimeSpan.FromMilliseconds(100)), new()
        {
            ["Extension:AttemptTimeout"] = "00:00:01",
            ["Extension:MaxRetryAttempts"] = "10",
            ["Extension:UserDeadline"] = "00:00:01.500",
        });

        AssertFailedAlone(outcome, FailureClass.Transient, "no answer within the deadline of 1.5 s");
        // The first attempt ran out; the deadline came in the second, so only 2 of the 11 were begun.
        Assert.InRange(outcome.HostileCalls, 1, 2);
        Assert.InRange(outcome.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(15));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_answer_cut_off_mid_body_is_retried_and_the_user_succeeds(DatabaseProvider provider)
    {
        var outcome = await RunWithOneHostileUserAsync(provider, _ => FirstCalls(1, CutOffHalfway, Correct));

        Assert.Equal(new BatchResult(Day, BatchRunStatus.Completed, 3, 3, 0, 0, outcome.Result.ElapsedMs), outcome.Result.WithoutRun());
        Assert.Equal(2, outcome.HostileCalls);
        Assert.Equal(Day, outcome.HostileCurrentDay);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_answer_cut_off_on_every_attempt_is_a_transient_failure_of_that_user_only(DatabaseProvider provider)
    {
        var outcome = await RunWithOneHostileUserAsync(provider, _ => CutOffHalfway);

        // The server is up (it answers the others), so the run goes on: not "unreachable".
        AssertFailedAlone(outcome, FailureClass.Transient, "after retries");
        Assert.Equal(3, outcome.HostileCalls);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_retry_after_of_an_hour_is_honoured_only_up_to_the_cap(DatabaseProvider provider)
    {
        var outcome = await RunWithOneHostileUserAsync(provider, _ => FirstCalls(2, RetryAfter(429, "3600"), Correct), new()
        {
            ["Extension:MaxRetryAfter"] = "00:00:01",
        });

        Assert.Equal(new BatchResult(Day, BatchRunStatus.Completed, 3, 3, 0, 0, outcome.Result.ElapsedMs), outcome.Result.WithoutRun());
        Assert.True(outcome.Elapsed < TimeSpan.FromSeconds(30), $"the run took {outcome.Elapsed}");
        // Waited the cap, not the 10 ms backoff: Retry-After is honoured, up to a point.
        var times = outcome.HostileCallTimes;
        Assert.Equal(3, times.Count);
        Assert.InRange(times[1] - times[0], TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
        Assert.InRange(times[2] - times[1], TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_server_that_always_answers_429_with_a_huge_retry_after_fails_that_user_quickly(DatabaseProvider provider)
    {
        var outcome = await RunWithOneHostileUserAsync(provider, _ => RetryAfter(429, "3600"), new()
        {
            ["Extension:MaxRetryAfter"] = "00:00:00.200",
        });

        AssertFailedAlone(outcome, FailureClass.Transient, "HTTP 429: slow down");
        Assert.Equal(3, outcome.HostileCalls);
        Assert.True(outcome.Elapsed < TimeSpan.FromSeconds(30), $"the run took {outcome.Elapsed}");
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_declared_length_above_the_limit_is_refused_before_reading(DatabaseProvider provider)
    {
        // The server declares 200 MB and sends none of it: reading would wait out three 10 s attempts.
        var outcome = await RunWithOneHostileUserAsync(provider, _ => DeclaresLength(200L << 20), new()
        {
            ["Extension:MaxAnswerBytes"] = "65536",
            ["Extension:AttemptTimeout"] = "00:00:10",
        });

        AssertFailedAlone(outcome, FailureClass.Permanent, "invalid answer: answer larger than 65536 bytes");
        // A permanent failure: asked once, never again, and no attempt waited for the body.
        Assert.Equal(1, outcome.HostileCalls);
        Assert.True(outcome.Elapsed < TimeSpan.FromSeconds(10), $"the run took {outcome.Elapsed}");
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Failure_text_postgres_cannot_store_is_stored_cleaned_and_the_run_completes(DatabaseProvider provider)
    {
        // 100 KB of NULs, bells and emoji. PostgreSQL refuses NUL, and after "HTTP 400: " every
        // emoji starts at an even index, so a plain cut at the column's 500 would leave the high
        // half of one at index 499: a lone surrogate, which Npgsql refuses to send.
        var message = string.Concat(Enumerable.Repeat("\u0000😀\u0007", 100_000 / 4));
        var json = System.Text.Json.JsonSerializer.Serialize(new { resultCode = "F", message });
        var outcome = await RunWithOneHostileUserAsync(provider, _ => Json(400, json));

        AssertFailedAlone(outcome, FailureClass.Permanent, "HTTP 400: 😀😀😀");
        var reason = outcome.Failures.Single().Reason;
        Assert.Equal(499, reason.Length);
        Assert.EndsWith(StoredText.CutMark.ToString(), reason);
        Assert.DoesNotContain(reason, c => c < ' ');
        Assert.Equal(reason, StoredText.Clean(reason, 500));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_lone_surrogate_in_a_failure_message_leaves_the_answer_unreadable_but_the_run_completes(DatabaseProvider provider)
    {
        // JSON may spell a lone surrogate (\ud800); our reader refuses such a string, so the
        // message is lost, the status stays, and nothing unstorable comes near the database.
        var json = "{\"resultCode\":\"F\",\"message\":\"" + string.Concat(Enumerable.Repeat("\\u0000\\ud800x", 100_000 / 13)) + "\"}";
        var outcome = await RunWithOneHostileUserAsync(provider, _ => Json(400, json));

        AssertFailedAlone(outcome, FailureClass.Permanent, "HTTP 400: Bad Request");
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_bulk_answer_above_its_limit_fails_the_users_of_that_call_only(DatabaseProvider provider)
    {
        var (result, failures, written, calls) = await RunBulkAsync(provider, hostile => (http, group) =>
            group.Any(c => c.UserId == hostile) ? Oversized(200L << 20)(http, group[0]) : CorrectBulk(http, group));

        Assert.Equal(new BatchResult(Day, BatchRunStatus.CompletedWithFailures, 4, 2, 0, 2, result.ElapsedMs), result.WithoutRun());
        Assert.All(failures, f => Assert.Equal(FailureClass.Permanent, f.FailureClass));
        Assert.All(failures, f => Assert.Contains("answer larger than 8192 bytes", f.Reason));
        Assert.Equal(2, written);
        Assert.Equal([1, 1, 1, 1], calls);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_bulk_answer_cut_off_mid_body_is_retried_and_its_users_succeed(DatabaseProvider provider)
    {
        var cutOnce = 0;
        var (result, failures, written, calls) = await RunBulkAsync(provider, hostile => async (http, group) =>
        {
            if (group.Any(c => c.UserId == hostile) && Interlocked.Exchange(ref cutOnce, 1) == 0)
            {
                await http.Response.WriteAsync(new string(' ', 4096));
                await http.Response.Body.FlushAsync();
                http.Abort();
                return;
            }
            await CorrectBulk(http, group);
        });

        Assert.Equal(new BatchResult(Day, BatchRunStatus.Completed, 4, 4, 0, 0, result.ElapsedMs), result.WithoutRun());
        Assert.Empty(failures);
        Assert.Equal(4, written);
        Assert.Equal([2, 2, 1, 1], calls);
    }

    /// <summary>Four users in bulk calls of two; <paramref name="bulk"/> gets the second user's id and answers every call.</summary>
    private static async Task<(BatchResult Result, List<AssetRefreshFailure> Failures, int Written, int[] Calls)> RunBulkAsync(
        DatabaseProvider provider, Func<long, Func<HttpContext, IReadOnlyList<Call>, Task>> bulk)
    {
        await using var server = await StartAsync();
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = CoreAgainst(server, database, new()
        {
            ["Extension:BulkSize"] = "2",
            ["Extension:MaxBulkAnswerBytes"] = "8192",
        });
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(4, Day.AddDays(-1), BaseAmount);
        server.BulkBehaviour = bulk(users[1]);

        var result = await client.RunDayAsync(Day);

        var rule = new MarketMoveRule(FakeExtensionServer.Salt);
        var written = 0;
        foreach (var user in users)
        {
            if ((await app.SnapshotsOfAsync(user)).SingleOrDefault(s => s.SnapshotDay == Day) is { } today)
            {
                Assert.Equal(MarketMoveRule.Apply(BaseAmount, rule.MultiplierFor(user, Day)), today.ClosingAmount);
                written++;
            }
        }
        var failures = await app.FailuresAsync(Day);
        Assert.All(failures, f => Assert.Contains(f.UserId, users[..2]));
        return (result, failures, written, users.Select(server.CallsFor).ToArray());
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_auth_server_error_is_retried_and_the_run_succeeds(DatabaseProvider provider)
    {
        var outcome = await RunWithHostileAuthAsync(provider,
            server => server.TokenBehaviour = FirstCalls(1, Json(500, """{"resultCode":"F","message":"Unexpected error occurred."}"""), IssueToken));

        Assert.Equal(new BatchResult(Day, BatchRunStatus.Completed, 3, 3, 0, 0, outcome.Result.ElapsedMs), outcome.Result.WithoutRun());
        Assert.Equal(2, outcome.TokenRequests);
        Assert.Equal(3, outcome.UsersWritten);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Tokens_refused_by_the_extension_every_time_stop_the_run_and_write_nothing(DatabaseProvider provider)
    {
        var outcome = await RunWithHostileAuthAsync(provider, server => server.RejectEveryToken = true);

        AssertStoppedEarly(outcome, "rejected a freshly issued token");
        // The first token and one fresh one after the 401, no more.
        Assert.Equal(2, outcome.TokenRequests);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_huge_token_answer_stops_the_run_without_reading_it(DatabaseProvider provider)
    {
        var outcome = await RunWithHostileAuthAsync(provider, server => server.TokenBehaviour = Oversized(10L << 20));

        AssertStoppedEarly(outcome, "token answer is larger than 16384 bytes");
        // The refused answer is not retried; a caller queued behind that fetch may start one more before the stop reaches it.
        Assert.InRange(outcome.TokenRequests, 1, 2);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_token_answer_that_drips_stops_the_run_within_its_attempts(DatabaseProvider provider)
    {
        var outcome = await RunWithHostileAuthAsync(provider, server => server.TokenBehaviour = Drip(TimeSpan.FromMilliseconds(100)), new()
        {
            ["Extension:AttemptTimeout"] = "00:00:00.500",
        });

        AssertStoppedEarly(outcome, "auth server unreachable");
        // Every attempt of the first fetch was made; a caller queued behind it may start one more
        // before the stop reaches it.
        Assert.InRange(outcome.TokenRequests, 3, 4);
        Assert.InRange(outcome.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(20));
    }

    private static void AssertStoppedEarly(AuthOutcome outcome, string error)
    {
        Assert.Equal(BatchRunStatus.Failed, outcome.Result.Status);
        Assert.Contains(error, outcome.Result.Error);
        Assert.Equal(0, outcome.Result.Success);
        Assert.Equal(0, outcome.UsersWritten);
        Assert.Equal(0, outcome.FailuresRecorded);
    }

    private sealed record AuthOutcome(BatchResult Result, int TokenRequests, int UsersWritten, int FailuresRecorded, TimeSpan Elapsed);

    /// <summary>Three active users and an honest extension behind the auth server <paramref name="setUp"/> makes.</summary>
    private static async Task<AuthOutcome> RunWithHostileAuthAsync(
        DatabaseProvider provider, Action<HostileExtensionServer> setUp, Dictionary<string, string?>? settings = null)
    {
        await using var server = await StartAsync();
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = CoreAgainst(server, database, settings);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(3, Day.AddDays(-1), BaseAmount);
        setUp(server);

        var clock = Stopwatch.StartNew();
        var result = await client.RunDayAsync(Day);
        var elapsed = clock.Elapsed;

        var written = 0;
        foreach (var user in users)
            written += (await app.SnapshotsOfAsync(user)).Count(s => s.SnapshotDay == Day);
        return new AuthOutcome(result, server.TokenRequests, written, (await app.FailuresAsync(Day)).Count, elapsed);
    }

    internal static void AssertFailedAlone(Outcome outcome, FailureClass failureClass, string reason)
    {
        Assert.Equal(new BatchResult(Day, BatchRunStatus.CompletedWithFailures, 3, 2, 0, 1, outcome.Result.ElapsedMs), outcome.Result.WithoutRun());
        var failure = Assert.Single(outcome.Failures);
        Assert.Equal(outcome.HostileUser, failure.UserId);
        Assert.Equal(failureClass, failure.FailureClass);
        Assert.Contains(reason, failure.Reason);
        Assert.Equal(new[] { Day.AddDays(-1) }, outcome.HostileSnapshotDays);
        Assert.Equal(Day.AddDays(-1), outcome.HostileCurrentDay);
    }

    internal sealed record Outcome(
        BatchResult Result, List<AssetRefreshFailure> Failures, long HostileUser, int HostileCalls,
        IReadOnlyList<TimeSpan> HostileCallTimes, List<DateOnly> HostileSnapshotDays, DateOnly? HostileCurrentDay, TimeSpan Elapsed,
        long AllocatedDuringRun);

    /// <summary>
    /// Three active users, the second answered by <paramref name="behaviour"/>, the others
    /// honestly; runs the day and checks that the honest two got the rule's amount.
    /// </summary>
    internal static async Task<Outcome> RunWithOneHostileUserAsync(
        DatabaseProvider provider, Func<HostileExtensionServer, Behaviour> behaviour, Dictionary<string, string?>? settings = null)
    {
        await using var server = await StartAsync();
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = CoreAgainst(server, database, settings);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(3, Day.AddDays(-1), BaseAmount);
        server.Answer(users[1], behaviour(server));

        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        var result = await client.RunDayAsync(Day);
        var elapsed = clock.Elapsed;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        var rule = new MarketMoveRule(FakeExtensionServer.Salt);
        foreach (var honest in new[] { users[0], users[2] })
        {
            var today = Assert.Single(await app.SnapshotsOfAsync(honest), s => s.SnapshotDay == Day);
            Assert.Equal(MarketMoveRule.Apply(BaseAmount, rule.MultiplierFor(honest, Day)), today.ClosingAmount);
        }
        return new Outcome(result, await app.FailuresAsync(Day), users[1], server.CallsFor(users[1]), server.CallTimesOf(users[1]),
            (await app.SnapshotsOfAsync(users[1])).Select(s => s.SnapshotDay).ToList(), await app.CurrentDayOfAsync(users[1]), elapsed, allocated);
    }

    internal static CoreServerApp CoreAgainst(HostileExtensionServer server, TestDatabase database, Dictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["Extension:BaseUrl"] = server.Url,
            ["Auth:BaseUrl"] = server.Url,
            ["Auth:ClientSecret"] = ClientSecret,
            // Roomy enough that a cold start on a busy machine is no timeout; tests that time out set their own.
            ["Extension:AttemptTimeout"] = "00:00:02",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            all[key] = value;
        return new CoreServerApp(database, all) { UseFakeExtension = false };
    }
}
