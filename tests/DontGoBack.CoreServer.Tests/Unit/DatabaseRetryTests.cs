using System.Collections.Concurrent;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class DatabaseRetryTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);
    private static readonly DateTimeOffset Start = new(2025, 8, 10, 0, 0, 0, TimeSpan.Zero);
    private readonly WaitedOnClock _time = new(Start);
    private readonly DatabaseRetry _retry;

    public DatabaseRetryTests() =>
        _retry = new DatabaseRetry(Options.Create(new DatabaseOptions { RetryTimeout = Budget }), _time, NullLogger<DatabaseRetry>.Instance);

    public static TheoryData<Exception> TransientFaults => new()
    {
        new NpgsqlException("Failed to connect to 127.0.0.1:5432", new System.Net.Sockets.SocketException(111)),
        new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", PostgresErrorCodes.AdminShutdown),
        new PostgresException("the database system is starting up", "FATAL", "FATAL", PostgresErrorCodes.CannotConnectNow),
        new PostgresException("sorry, too many clients already", "FATAL", "FATAL", PostgresErrorCodes.TooManyConnections),
        new PostgresException("deadlock detected", "ERROR", "ERROR", PostgresErrorCodes.DeadlockDetected),
        new SqliteException("database is locked", 5),
        // EF Core's wrapper around a transient driver fault.
        new InvalidOperationException("An exception has been raised that is likely due to a transient failure.",
            new NpgsqlException("Exception while reading from stream", new IOException("reset"))),
    };

    [Theory]
    [MemberData(nameof(TransientFaults))]
    public async Task A_transient_fault_is_retried_until_the_work_succeeds(Exception fault)
    {
        var tries = 0;
        var work = _retry.ExecuteAsync("test", _ => ++tries < 4 ? throw fault : Task.FromResult(tries), CancellationToken.None);

        Assert.Equal(4, await AdvanceUntilDoneAsync(work));
        // 50, 100 and 200 ms at most, each jittered down by up to half.
        Assert.InRange(_time.GetUtcNow() - Start, TimeSpan.FromMilliseconds(175), TimeSpan.FromMilliseconds(500));
    }

    public static TheoryData<Exception> OtherFaults => new()
    {
        new PostgresException("duplicate key value violates unique constraint", "ERROR", "ERROR", PostgresErrorCodes.UniqueViolation),
        new PostgresException("relation \"users\" does not exist", "ERROR", "ERROR", PostgresErrorCodes.UndefinedTable),
        new SqliteException("no such table: users", 1),
        new InvalidOperationException("a bug of ours"),
    };

    [Theory]
    [MemberData(nameof(OtherFaults))]
    public async Task Any_other_fault_is_thrown_at_once(Exception fault)
    {
        var tries = 0;
        var thrown = await Assert.ThrowsAnyAsync<Exception>(() =>
            _retry.ExecuteAsync<int>("test", _ => { tries++; throw fault; }, CancellationToken.None));

        Assert.Same(fault, thrown);
        Assert.Equal(1, tries);
    }

    [Fact]
    public async Task Retries_stop_when_the_time_is_spent_and_the_last_fault_is_thrown()
    {
        var tries = 0;
        var work = _retry.ExecuteAsync<int>("test", _ => throw new SqliteException($"database is locked ({++tries})", 5), CancellationToken.None);

        var thrown = await Assert.ThrowsAsync<SqliteException>(() => AdvanceUntilDoneAsync(work));

        Assert.Equal($"database is locked ({tries})", thrown.Message);
        // Backoff tops out at 2 s, so ten seconds take more than a handful of tries.
        Assert.InRange(tries, 7, 40);
        Assert.InRange(_time.GetUtcNow() - Start, Budget, Budget + TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void The_description_names_the_driver_fault_not_the_wrapper()
    {
        var wrapped = new InvalidOperationException("An exception has been raised that is likely due to a transient failure.",
            new NpgsqlException("Failed to connect to 127.0.0.1:5432", new System.Net.Sockets.SocketException(111)));

        Assert.True(DatabaseFaults.IsDatabaseFault(wrapped));
        Assert.Equal("database unavailable: Failed to connect to 127.0.0.1:5432", DatabaseFaults.Describe(wrapped));
        Assert.False(DatabaseFaults.IsDatabaseFault(new InvalidOperationException("a bug of ours")));
        Assert.Equal("database error: no such table: users", DatabaseFaults.Describe(new SqliteException("no such table: users", 1)));
    }

    [Fact]
    public void A_read_only_database_or_a_full_disk_is_a_refusal_to_write_that_no_retry_waits_out()
    {
        var full = new Microsoft.EntityFrameworkCore.DbUpdateException("An error occurred while saving the entity changes.",
            new PostgresException("could not extend file: No space left on device", "ERROR", "ERROR", PostgresErrorCodes.DiskFull));
        var readOnly = new PostgresException("cannot execute INSERT in a read-only transaction", "ERROR", "ERROR", PostgresErrorCodes.ReadOnlySqlTransaction);

        Assert.Equal((StorageRefusal.Full, false), (DatabaseFaults.StorageRefusalOf(full), DatabaseFaults.IsTransient(full)));
        Assert.Equal("database storage full: 53100: could not extend file: No space left on device", DatabaseFaults.Describe(full));
        Assert.Equal((StorageRefusal.ReadOnly, false), (DatabaseFaults.StorageRefusalOf(readOnly), DatabaseFaults.IsTransient(readOnly)));
        Assert.Equal(StorageRefusal.Full, DatabaseFaults.StorageRefusalOf(new SqliteException("database or disk is full", 13)));
        Assert.Equal(StorageRefusal.ReadOnly, DatabaseFaults.StorageRefusalOf(new SqliteException("attempt to write a readonly database", 8)));
        // Out of memory or connections is still transient, and not a refusal to write.
        var tooMany = new PostgresException("sorry, too many clients already", "FATAL", "FATAL", PostgresErrorCodes.TooManyConnections);
        Assert.Equal(((StorageRefusal?)null, true), (DatabaseFaults.StorageRefusalOf(tooMany), DatabaseFaults.IsTransient(tooMany)));
    }

    /// <summary>
    /// Moves the fake clock on by exactly each wait the retry asks for, once it asks, until the work is
    /// done. Moving it in fixed steps instead let a loaded machine's late continuation see time pass
    /// that nobody waited for, and the measured backoff overshoot.
    /// </summary>
    private async Task<T> AdvanceUntilDoneAsync<T>(Task<T> work)
    {
        for (var step = 0; !work.IsCompleted && step < 10_000; step++)
        {
            if (_time.TryTakeWait(out var wait))
                _time.Advance(wait);
            else
                // Not a wait before an assertion: a real tick hands the thread pool the retry's continuation,
                // which then asks the fake clock for its next wait; the loop ends on the work's own completion.
                await Task.Delay(1);
        }
        return await work;
    }

    /// <summary>A fake clock that tells which waits were asked of it, so a test moves time only for them.</summary>
    private sealed class WaitedOnClock(DateTimeOffset start) : FakeTimeProvider(start)
    {
        private readonly ConcurrentQueue<TimeSpan> _waits = new();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            if (dueTime != Timeout.InfiniteTimeSpan)
                _waits.Enqueue(dueTime);
            return base.CreateTimer(callback, state, dueTime, period);
        }

        public bool TryTakeWait(out TimeSpan wait) => _waits.TryDequeue(out wait);
    }
}
