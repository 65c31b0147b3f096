using Microsoft.EntityFrameworkCore;

namespace DontGoBack.Batch.Storage;

/// <summary>
/// Whether the database lately refused a write (read-only, storage full), as the requests and runs
/// that met the refusal saw it: readiness reports it until a write probe goes through, and it is
/// logged once when it starts and once when it ends, not on every refused write.
/// </summary>
public sealed partial class DatabaseWriteRefusals(ILogger<DatabaseWriteRefusals> logger)
{
    private Refusal? _current;

    /// <summary>The refusal seen last, or null when writes went through since (or none was ever refused).</summary>
    public Refusal? Current => Volatile.Read(ref _current);

    /// <summary>Notes a refused write; the first of a spell is logged as a warning.</summary>
    public void Record(StorageRefusal refusal, Exception exception)
    {
        var reason = DatabaseFaults.Reason(exception);
        if (Interlocked.Exchange(ref _current, new Refusal(refusal, reason, exception)) is null)
            LogRefusing(refusal.Describe(), reason);
    }

    /// <summary>Records the refusal if <paramref name="exception"/> is one; true when it was.</summary>
    public bool TryRecord(Exception exception)
    {
        if (DatabaseFaults.StorageRefusalOf(exception) is not { } refusal)
            return false;
        Record(refusal, exception);
        return true;
    }

    /// <summary>Probes writes (<see cref="TryWriteAsync"/>): a refusal is recorded, a write that goes through ends the spell.</summary>
    /// <returns>Null when the write went through, else the refusal.</returns>
    public async Task<Refusal?> ProbeAsync(DbContext db, CancellationToken cancellationToken)
    {
        if (await TryWriteAsync(db, cancellationToken) is { } refusal)
        {
            Record(refusal.Kind, refusal.Exception);
            return refusal;
        }
        if (Interlocked.Exchange(ref _current, null) is { } ended)
            LogWritesAgain(ended.Kind.Describe());
        return null;
    }

    /// <summary>
    /// Writes a little, so a database that refuses writes (a read-only transaction or role, a file
    /// that cannot grow) says so here: PostgreSQL fills a temporary table (stored in the database's
    /// tablespace) and rolls it back, SQLite commits a one-page table it drops in the same transaction.
    /// </summary>
    /// <returns>Null when the write went through, else the refusal.</returns>
    public static async Task<Refusal?> TryWriteAsync(DbContext db, CancellationToken cancellationToken)
    {
        // On the connection itself rather than through EF, which would log each refused probe as a failed command.
        var connection = db.Database.GetDbConnection();
        var sqlite = db.Database.IsSqlite();
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var probe = connection.CreateCommand();
            probe.Transaction = transaction;
            // SQLite: only a commit reaches the file (through its write-ahead log). PostgreSQL extends a
            // table's file as rows arrive, so a full disk fails the insert itself.
            probe.CommandText = sqlite
                ? "CREATE TABLE dontgoback_write_probe (x BLOB); INSERT INTO dontgoback_write_probe VALUES (zeroblob(4096)); DROP TABLE dontgoback_write_probe;"
                : "CREATE TEMPORARY TABLE dontgoback_write_probe ON COMMIT DROP AS SELECT repeat('x', 1000) AS x FROM generate_series(1, 16)";
            await probe.ExecuteNonQueryAsync(cancellationToken);
            if (sqlite)
                await transaction.CommitAsync(cancellationToken);
            else
                await transaction.RollbackAsync(cancellationToken);
            return null;
        }
        catch (Exception e) when (DatabaseFaults.StorageRefusalOf(e) is { } refusal)
        {
            return new Refusal(refusal, DatabaseFaults.Reason(e), e);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    public sealed record Refusal(StorageRefusal Kind, string Reason, Exception Exception)
    {
        /// <summary>"The database refuses writes: storage full (…)", for readiness and problems.</summary>
        public string Description => $"The database refuses writes: {(Kind == StorageRefusal.Full ? "storage full" : "read-only")} ({Reason})";
    }

    [LoggerMessage(LogLevel.Warning, "The database refuses writes ({Refusal}): {Reason}; reads still work, writes answer 503 until it accepts them again")]
    private partial void LogRefusing(string refusal, string reason);

    [LoggerMessage(LogLevel.Information, "The database accepts writes again (it was {Refusal})")]
    private partial void LogWritesAgain(string refusal);
}
