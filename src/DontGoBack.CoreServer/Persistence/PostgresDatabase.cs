using DontGoBack.Batch.Storage;
using System.Text.RegularExpressions;
using Npgsql;

namespace DontGoBack.CoreServer.Persistence;

/// <summary>
/// The PostgreSQL database the connection string names, created when it is missing and the role may
/// (CREATEDB), so a first start on a new server needs no step by hand; otherwise one line says what to run.
/// </summary>
public sealed partial class PostgresDatabase(string connectionString, ILogger<PostgresDatabase> logger)
{
    /// <summary>The maintenance database every PostgreSQL server has, connected to when ours is missing.</summary>
    private const string MaintenanceDatabase = "postgres";

    /// <exception cref="DatabaseMissingException">The database is missing and this role may not create it.</exception>
    public async Task EnsureExistsAsync(CancellationToken cancellationToken)
    {
        // Unpooled: these are one-off connections, and a pool would keep one to the maintenance database open.
        var target = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false };
        try
        {
            await using var probe = new NpgsqlConnection(target.ConnectionString);
            await probe.OpenAsync(cancellationToken);
            return;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            // Missing: created below. Any other failure is the migration's to report, as before.
        }

        // Npgsql's own default when the string names no database: the user's name.
        var name = target.Database ?? target.Username ?? Environment.UserName;
        var maintenance = new NpgsqlConnectionStringBuilder(target.ConnectionString) { Database = MaintenanceDatabase };
        try
        {
            await using var admin = new NpgsqlConnection(maintenance.ConnectionString);
            await admin.OpenAsync(cancellationToken);
            await using var create = admin.CreateCommand();
            // CREATE DATABASE takes no parameters; the name goes in as a quoted identifier.
            create.CommandText = $"CREATE DATABASE {QuotedIdentifier(name)}";
            await create.ExecuteNonQueryAsync(cancellationToken);
            LogCreated(logger, name, $"{target.Host}:{target.Port}");
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
        {
            // Another node or process created it meanwhile.
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.InvalidCatalogName)
        {
            throw new DatabaseMissingException(name, target, e);
        }
    }

    public static string QuotedIdentifier(string name) => $"\"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    [LoggerMessage(LogLevel.Information, "Database {Database} did not exist on {Server}: created it")]
    private static partial void LogCreated(ILogger logger, string database, string server);
}

/// <summary>The database the connection string names does not exist, and the role may not create it.</summary>
public sealed partial class DatabaseMissingException(string database, NpgsqlConnectionStringBuilder target, PostgresException refusal)
    : Exception(Describe(database, target, refusal), refusal)
{
    private static string Describe(string database, NpgsqlConnectionStringBuilder target, PostgresException refusal)
    {
        var role = target.Username ?? Environment.UserName;
        return $"database \"{database}\" does not exist and role \"{role}\" may not create it ({refusal.SqlState}: {refusal.MessageText}); "
            + $"create it as a role that may: createdb -h {Shell(target.Host ?? "localhost")} -p {target.Port} -U postgres -O {Shell(role)} {Shell(database)} "
            + $"(or in SQL: CREATE DATABASE {PostgresDatabase.QuotedIdentifier(database)} OWNER {PostgresDatabase.QuotedIdentifier(role)};)";
    }

    /// <summary>A word the shell takes as it is, or the word in single quotes.</summary>
    private static string Shell(string word) =>
        PlainWord().IsMatch(word) ? word : $"'{word.Replace("'", "'\\''", StringComparison.Ordinal)}'";

    [GeneratedRegex("^[A-Za-z0-9_.,:/@+-]+$")]
    private static partial Regex PlainWord();
}
