using System.Globalization;
using DontGoBack.BenchSeed;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql;

// plain-history --connection CS --database NAME --users N --active-percent P --opening-day yyyy-MM-dd --days D
// Recreates the database NAME, applies the core server's migrations up to the last one before MonthlyPartitions (so the
// history tables are the plain ones, as on a server installed before it), and seeds N users with D days of history from the
// opening day by the benches' shared seeder. The core server's own `verify` then applies the rest: MonthlyPartitions finds
// history and keeps the plain tables (HistoryLayout.Plain), which is what `migrate-history` starts from.
var options = Options.Parse(args);
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };

var admin = new NpgsqlConnectionStringBuilder(options.Connection) { Database = "postgres" }.ConnectionString;
await using (var connection = new NpgsqlConnection(admin))
{
    await connection.OpenAsync(cancel.Token);
    await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{options.Database}\" WITH (FORCE)", connection);
    await drop.ExecuteNonQueryAsync(cancel.Token);
    await using var create = new NpgsqlCommand($"CREATE DATABASE \"{options.Database}\"", connection);
    await create.ExecuteNonQueryAsync(cancel.Token);
}

var target = new NpgsqlConnectionStringBuilder(options.Connection) { Database = options.Database, CommandTimeout = 0 }.ConnectionString;
await using (var db = new PostgresDontGoBackDbContext(new DbContextOptionsBuilder<PostgresDontGoBackDbContext>()
                 .UseNpgsql(target).UseSnakeCaseNamingConvention().Options))
{
    await db.GetService<IMigrator>().MigrateAsync(LastPlainMigration, cancellationToken: cancel.Token);
}
Console.Error.WriteLine($"{options.Database}: the core server's migrations applied up to {LastPlainMigration}");

await using var dataSource = NpgsqlDataSource.Create(target);
await new HistoryCopy(dataSource, line => Console.Error.WriteLine($"[seed] {line}"))
    .SeedAsync(options.Users, options.ActivePercent, options.OpeningDay, options.Days, cancel.Token);
return 0;

internal sealed partial class Program
{
    /// <summary>The core server's last migration before MonthlyPartitions: a database with history at it keeps the plain tables.</summary>
    private const string LastPlainMigration = "MonthlyRollups";
}

internal sealed record Options(string Connection, string Database, int Users, int ActivePercent, DateOnly OpeningDay, int Days)
{
    public static Options Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
            values[args[i]] = args[i + 1];
        string Required(string name) => values.TryGetValue(name, out var value) ? value : throw new ArgumentException($"{name} is required");
        int Number(string name, int fallback) => values.TryGetValue(name, out var value) ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;
        return new Options(
            Required("--connection"), Required("--database"), Number("--users", 1_000_000), Number("--active-percent", 90),
            DateOnly.ParseExact(Required("--opening-day"), "yyyy-MM-dd", CultureInfo.InvariantCulture), Number("--days", 60));
    }
}
