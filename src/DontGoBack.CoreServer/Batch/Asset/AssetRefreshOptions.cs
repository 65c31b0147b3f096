using DontGoBack.Batch.Schedule;
using System.ComponentModel.DataAnnotations;

namespace DontGoBack.CoreServer.Batch.Asset;

/// <summary>The AssetRefresh section: the schedule every daily job has (Enabled, Cron, CompleteBy, MinSuccessRatio; its zone is Batch:TimeZone), and how the refresh works.</summary>
public sealed class AssetRefreshOptions : DailyJobOptions
{
    public const string SectionName = "AssetRefresh";

    protected override string Section => SectionName;

    /// <summary>Extension calls in flight at once.</summary>
    [Range(1, 4096, ErrorMessage = "AssetRefresh:MaxConcurrency must be between {1} and {2}.")]
    public int MaxConcurrency { get; set; } = 64;

    /// <summary>Active users read per keyset page.</summary>
    [Range(1, 100_000, ErrorMessage = "AssetRefresh:PageSize must be between {1} and {2}.")]
    public int PageSize { get; set; } = 2_000;

    /// <summary>Results written per database transaction.</summary>
    [Range(1, 10_000, ErrorMessage = "AssetRefresh:WriteChunkSize must be between {1} and {2}.")]
    public int WriteChunkSize { get; set; } = 1_000;

    /// <summary>
    /// Chunks written at once, each in its own transaction. Chunks hold different users, so they
    /// never wait on each other's row locks; one writer leaves PostgreSQL on a single core while
    /// the chunk work is the job's largest cost. SQLite takes one writer at a time whatever this says.
    /// </summary>
    [Range(1, 16, ErrorMessage = "AssetRefresh:WritesInFlight must be between {1} and {2}.")]
    public int WritesInFlight { get; set; } = 2;

    /// <summary>Longest time an answer waits in memory for its chunk to fill before it is written anyway.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00", ErrorMessage = "AssetRefresh:MaxWriteDelay must be between {1} and {2}.")]
    public TimeSpan MaxWriteDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Base amount of a user with no snapshot before the day, in KRW.</summary>
    [Range(0, long.MaxValue, ErrorMessage = "AssetRefresh:StartAmount must be between {1} and {2}.")]
    public long StartAmount { get; set; } = 10_000_000;
}
