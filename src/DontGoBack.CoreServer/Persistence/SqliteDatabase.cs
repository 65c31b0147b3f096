using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace DontGoBack.CoreServer.Persistence;

/// <summary>Opens raw connections to the embedded database for the bulk SQL paths.</summary>
public sealed class SqliteDatabase(string connectionString)
{
    public string ConnectionString { get; } = connectionString;

    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    /// <summary>
    /// Two warnings every fresh SQLite database printed while our migrations ran, logged at Debug
    /// instead. SQLite cannot change a foreign key in place, so EF rebuilds the table
    /// (NetFlowAndChangeHistory rebuilds users) and warns (1) that the migration's own SQL runs while
    /// the rebuild is pending — reviewed: that SQL only copies rows into the two new tables and never
    /// reads users — and (2) that the rebuild's `PRAGMA foreign_keys = 0` cannot run inside the
    /// migration's transaction, so a process killed within those milliseconds could leave that one
    /// migration half applied. It runs once per database, at its creation; a database left that way
    /// is a new, empty one, and deleting the file is the remedy.
    /// </summary>
    public static void KnownMigrationWarnings(WarningsConfigurationBuilder warnings) => warnings.Log(
        (SqliteEventId.TableRebuildPendingWarning, LogLevel.Debug),
        (RelationalEventId.NonTransactionalMigrationOperationWarning, LogLevel.Debug));

    /// <summary>
    /// The database file's full path; null for an in-memory or URI data source. A relative path
    /// (the default data/dontgoback.db) is relative to the working directory, as SQLite opens it.
    /// </summary>
    public string? FullPath
    {
        get
        {
            var path = new SqliteConnectionStringBuilder(ConnectionString).DataSource;
            return path is "" or ":memory:" || path.StartsWith("file:", StringComparison.Ordinal) ? null : Path.GetFullPath(path);
        }
    }

    /// <summary>Creates the database file's folder, which SQLite will not do itself.</summary>
    public void EnsureDirectory()
    {
        var directory = FullPath is { } path ? Path.GetDirectoryName(path) : null;
        if (!string.IsNullOrEmpty(directory))
            Directory.CreateDirectory(directory);
    }
}
