using Microsoft.Data.Sqlite;

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

    /// <summary>Creates the database file's folder, which SQLite will not do itself.</summary>
    public void EnsureDirectory()
    {
        var path = new SqliteConnectionStringBuilder(ConnectionString).DataSource;
        if (path is "" or ":memory:" || path.StartsWith("file:", StringComparison.Ordinal))
            return;
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
            Directory.CreateDirectory(directory);
    }
}
