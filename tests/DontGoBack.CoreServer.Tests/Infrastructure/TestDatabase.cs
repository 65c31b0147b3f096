using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>A database of its own for one test: a temporary SQLite file, or a fresh PostgreSQL database.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    /// <summary>Admin connection string of the PostgreSQL server the tests use; scripts/test.sh sets it.</summary>
    public const string PostgresVariable = "DONTGOBACK_TEST_POSTGRES";

    private readonly string? _sqlitePath;

    /// <summary>The SQLite database's file; null on PostgreSQL.</summary>
    public string? SqlitePath => _sqlitePath;
    private readonly string? _postgresName;
    private readonly string? _postgresAdmin;

    private TestDatabase(DatabaseProvider provider, string connectionString, string? sqlitePath, string? postgresName, string? postgresAdmin = null)
    {
        Provider = provider;
        ConnectionString = connectionString;
        _sqlitePath = sqlitePath;
        _postgresName = postgresName;
        _postgresAdmin = postgresAdmin;
    }

    public DatabaseProvider Provider { get; }
    public string ConnectionString { get; }

    /// <param name="postgresAdmin">The PostgreSQL server to create it on; default the one scripts/test.sh started.</param>
    public static async Task<TestDatabase> CreateAsync(DatabaseProvider provider, string? postgresAdmin = null)
    {
        var name = $"dgb_test_{Guid.NewGuid():N}";
        if (provider == DatabaseProvider.Sqlite)
        {
            var directory = Path.Combine(Path.GetTempPath(), "dontgoback-tests");
            Directory.CreateDirectory(directory);
            var path = Path.Combine(directory, name + ".db");
            return new TestDatabase(provider, $"Data Source={path}", path, null);
        }

        var admin = postgresAdmin ?? AdminConnectionString();
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }
        var builder = new NpgsqlConnectionStringBuilder(admin) { Database = name };
        return new TestDatabase(provider, builder.ConnectionString, null, name, admin);
    }

    /// <summary>A SQLite database at a path the test chose (e.g. on a small file system of its own); the file is deleted at the end.</summary>
    public static TestDatabase SqliteAt(string path) => new(DatabaseProvider.Sqlite, $"Data Source={path}", path, null);

    /// <summary>A context on this database outside any server, e.g. to look at it after a server stopped.</summary>
    public DontGoBackDbContext CreateContext() => Provider switch
    {
        DatabaseProvider.Sqlite => new SqliteDontGoBackDbContext(new DbContextOptionsBuilder<SqliteDontGoBackDbContext>()
            .UseSqlite(ConnectionString).UseSnakeCaseNamingConvention().Options),
        _ => new PostgresDontGoBackDbContext(new DbContextOptionsBuilder<PostgresDontGoBackDbContext>()
            .UseNpgsql(ConnectionString).UseSnakeCaseNamingConvention().Options),
    };

    /// <summary>Runs SQL on a PostgreSQL test database, on a connection of its own.</summary>
    public async Task ExecutePostgresAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The first column of the first row of a query on a PostgreSQL test database, on a connection of its own.</summary>
    public async Task<T> PostgresScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public static string AdminConnectionString() =>
        Environment.GetEnvironmentVariable(PostgresVariable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{PostgresVariable} is not set. Run the tests with scripts/test.sh, which starts PostgreSQL and sets it.");

    public async ValueTask DisposeAsync()
    {
        if (_sqlitePath is not null)
        {
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm", "-reserve" })
                File.Delete(_sqlitePath + suffix);
        }
        if (_postgresName is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(_postgresAdmin);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_postgresName} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }
}

public static class ChainAssertions
{
    /// <summary>Runs the chain checker (`verify`) over the whole database and fails the test with the first breaks.</summary>
    public static async Task AssertChainHoldsAsync(this TestDatabase database)
    {
        await using var db = database.CreateContext();
        var check = await new DontGoBack.CoreServer.Domain.Assets.AssetChainVerifier(db)
            .CheckAsync(DateOnly.MinValue, DateOnly.MaxValue, 10, CancellationToken.None);
        Assert.True(check.Total == 0, $"{check.Total} breaks of the chain rule, first: {string.Join(", ", check.First)}");
    }
}
