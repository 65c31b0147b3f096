using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Persistence;

/// <summary>
/// Brings the database to the model: the SQLite folder or the PostgreSQL database if needed, then pending
/// migrations, then the seeders.
/// </summary>
public sealed class DatabaseMigration(
    IServiceScopeFactory scopes, IOptions<DatabaseOptions> options, SqliteDatabase? sqlite = null, PostgresDatabase? postgres = null)
{
    /// <summary>
    /// Applies the migrations this build knows and the database lacks. They are read first, and only
    /// pending ones take EF's migration lock (a write): a database with every migration applied is not
    /// written to, so a read-only database or a full disk still serves reads and the commands that only read.
    /// </summary>
    /// <exception cref="DatabaseRefusesWritesException">Migrations are pending and the database refuses writes.</exception>
    /// <exception cref="DatabaseMissingException">The PostgreSQL database is missing and the role may not create it.</exception>
    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        sqlite?.EnsureDirectory();
        if (postgres is not null)
            await postgres.EnsureExistsAsync(cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        var history = db.GetService<IHistoryRepository>();
        // Without the history table nothing is applied (and reading it would log an error, dotnet/efcore#37328).
        var pending = await HistoryExistsAsync(db, history, cancellationToken)
            ? (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList()
            : db.Database.GetMigrations().ToList();
        if (pending.Count > 0)
        {
            // Asked first, so a database that refuses writes is said in one line, not in EF's log of a failed lock.
            if (await DatabaseWriteRefusals.TryWriteAsync(db, cancellationToken) is { } refused)
                throw DatabaseRefusesWritesException.MigrationsPending(refused.Kind, pending, refused.Exception);
            try
            {
                // Created first (IF NOT EXISTS), so EF's own read of it succeeds on a fresh database.
                await history.CreateIfNotExistsAsync(cancellationToken);
                // A migration's data step runs over every user (MonthlyPartitions fills each pointer's day: over 30 s at a
                // million users on the bench's machine); the provider's default of 30 s would fail it, and start-up with it.
                db.Database.SetCommandTimeout(options.Value.LongStatementTimeout);
                await db.Database.MigrateAsync(cancellationToken);
            }
            catch (Exception e) when (DatabaseFaults.StorageRefusalOf(e) is { } refusal)
            {
                throw DatabaseRefusesWritesException.MigrationsPending(refusal, pending, e);
            }
        }
        // WAL lets the refresh read the next page while it writes the previous chunk; it stays set in the file.
        if (db.Database.IsSqlite() && !await InWalModeAsync(db, cancellationToken))
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
    }

    /// <summary>
    /// Npgsql's provider answers "does the history table exist" by reading it, which on a database
    /// without one logs a failed command as an error; the catalogue answers without that.
    /// </summary>
    private static async Task<bool> HistoryExistsAsync(DontGoBackDbContext db, IHistoryRepository history, CancellationToken cancellationToken)
    {
        if (!db.Database.IsNpgsql())
            return await history.ExistsAsync(cancellationToken);
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var query = db.Database.GetDbConnection().CreateCommand();
            query.CommandText = "SELECT to_regclass(@table) IS NOT NULL";
            var table = query.CreateParameter();
            (table.ParameterName, table.Value) = ("table", $"\"{HistoryRepository.DefaultTableName}\"");
            query.Parameters.Add(table);
            return await query.ExecuteScalarAsync(cancellationToken) is true;
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    private static async Task<bool> InWalModeAsync(DontGoBackDbContext db, CancellationToken cancellationToken)
    {
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var query = db.Database.GetDbConnection().CreateCommand();
            query.CommandText = "PRAGMA journal_mode";
            return string.Equals(await query.ExecuteScalarAsync(cancellationToken) as string, "wal", StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>A probe write (<see cref="DatabaseWriteRefusals.TryWriteAsync"/>), for a command that writes to refuse before it starts.</summary>
    /// <exception cref="DatabaseRefusesWritesException">The database is read-only or its storage full.</exception>
    public async Task EnsureWritableAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        var refusal = await DatabaseWriteRefusals.TryWriteAsync(db, cancellationToken);
        if (refusal is not null)
            throw new DatabaseRefusesWritesException($"{refusal.Kind.Describe()}, so nothing was done: {refusal.Reason}", refusal.Exception);
    }

    /// <summary>Runs every registered seeder, in registration order, each in a scope of its own.</summary>
    public async Task SeedAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        foreach (var seeder in scope.ServiceProvider.GetServices<IDbSeeder<DontGoBackDbContext>>())
            await seeder.SeedAsync(db, cancellationToken);
    }
}

/// <summary>
/// The database refuses writes (read-only, storage full) where the work about to start needs them:
/// pending migrations, a command that writes. The message is the one line a command prints.
/// </summary>
public sealed class DatabaseRefusesWritesException(string message, Exception inner) : Exception(message, inner)
{
    public static DatabaseRefusesWritesException MigrationsPending(StorageRefusal refusal, IReadOnlyList<string> pending, Exception inner) =>
        new($"{refusal.Describe()}, so its {pending.Count} pending migrations cannot be applied ({string.Join(", ", pending)}): " +
            $"{DatabaseFaults.Reason(inner)}", inner);
}
