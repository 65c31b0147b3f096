using System.ComponentModel.DataAnnotations;

namespace DontGoBack.Batch.Storage;

public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

public sealed class DatabaseOptions
{
    public const string SectionName = "Database";
    public const string ConnectionStringName = "DontGoBack";

    [EnumDataType(typeof(DatabaseProvider))]
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>The configured provider, read while services are registered (the provider decides which services exist).</summary>
    public static DatabaseProvider ProviderIn(IConfiguration configuration) =>
        configuration.GetSection(SectionName).Get<DatabaseOptions>()?.Provider ?? DatabaseProvider.Sqlite;

    /// <summary>
    /// How long one unit of database work (a page of users, a chunk of results, the claim of a
    /// day) is retried on transient faults before the run gives up on the database.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00", ErrorMessage = "Database:RetryTimeout must be between {1} and {2}.")]
    public TimeSpan RetryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// PostgreSQL connections the public profile reads pipeline their statements over (they are
    /// multiplexed), in a pool of their own (<see cref="PublicReadPool"/>) beside the batch's and the API's pool.
    /// </summary>
    [Range(1, 1000, ErrorMessage = "Database:PublicReadPoolSize must be between {1} and {2}.")]
    public int PublicReadPoolSize { get; set; } = 4;

    /// <summary>
    /// How long one statement may take where a statement reads a whole table or month by design: a migration's data step
    /// (one over every user), the history lifecycle's roll-up of a month (minutes at ten million users). Every other
    /// statement keeps the provider's default (30 s). A cancelled run still stops such a statement at once.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:30", "1.00:00:00", ErrorMessage = "Database:LongStatementTimeout must be between {1} and {2}.")]
    public TimeSpan LongStatementTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// SQLite only: bytes kept on the database's disk, in a file beside it (<see cref="StorageReserve"/>), for a run's
    /// outcome when the run's work filled the disk; 0 keeps none.
    /// </summary>
    [Range(typeof(long), "0", "1073741824", ErrorMessage = "Database:SqliteStorageReserveBytes must be between {1} and {2}.")]
    public long SqliteStorageReserveBytes { get; set; } = 1024 * 1024;

    /// <summary>The service key of the public reads' <c>NpgsqlDataSource</c>.</summary>
    public const string PublicReadPool = "public-reads";
}
