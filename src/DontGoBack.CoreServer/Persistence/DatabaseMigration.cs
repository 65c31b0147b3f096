using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace DontGoBack.CoreServer.Persistence;

/// <summary>Brings the database to the model: the SQLite folder if needed, then pending migrations, then the seeders.</summary>
public sealed class DatabaseMigration(IServiceScopeFactory scopes, SqliteDatabase? sqlite = null)
{
    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        sqlite?.EnsureDirectory();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>();
        // On a fresh database EF reads the history table before creating it and logs the failed
        // query as an error (dotnet/efcore#37328); created first (IF NOT EXISTS), the read succeeds.
        await db.GetService<IHistoryRepository>().CreateIfNotExistsAsync(cancellationToken);
        await db.Database.MigrateAsync(cancellationToken);
        if (db.Database.IsSqlite())
        {
            // WAL lets the refresh read the next page while it writes the previous chunk.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        }
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
