namespace DontGoBack.Bench;

internal enum RefreshMode
{
    /// <summary>Extension:BulkSize = --bulk-size: one update-assets call per group of users.</summary>
    Bulk,
    /// <summary>Extension:BulkSize = 0: one update-asset call per user, as the original extension server needs.</summary>
    PerUser,
}

internal static class RefreshModes
{
    public static readonly RefreshMode[] All = [RefreshMode.Bulk, RefreshMode.PerUser];

    public static string Name(this RefreshMode mode) => mode switch
    {
        RefreshMode.Bulk => "bulk",
        RefreshMode.PerUser => "per-user",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
    };

    public static RefreshMode? TryParse(string name)
    {
        foreach (var mode in All)
        {
            if (string.Equals(mode.Name(), name, StringComparison.OrdinalIgnoreCase))
                return mode;
        }
        return null;
    }
}

/// <param name="AdminConnectionString">Any database on the server; the bench database is recreated beside it.</param>
/// <param name="HistoryDays">0: the modes run on the seeded database only; N: a second database, seeded alike, gets N days of history and they run on it too.</param>
/// <param name="DaysAtDepth">Consecutive days the modes run on the database with the history.</param>
/// <param name="FreshDays">Consecutive days the modes run on the seeded database.</param>
/// <param name="FloorRuns">Measurements of the floor on each database; the median is the one compared with the job.</param>
/// <param name="Concurrency">Extension calls (per-user) or bulk groups in flight, in the core server and in the raw HTTP rate alike.</param>
internal sealed record BenchSettings(
    string AdminConnectionString,
    string CoreServerDll,
    string SimulatorDll,
    int Users,
    int ActivePercent,
    IReadOnlyList<RefreshMode> Modes,
    int LatencyMs,
    double ErrorRate,
    int Concurrency,
    int BulkSize,
    int BulkCalls,
    int RawRequests,
    int HistoryDays = 0,
    bool HistoryWithMarketChanges = false,
    int FloorRuns = 3,
    int DaysAtDepth = 1,
    int FreshDays = 1)
{
    public int BulkSizeFor(RefreshMode mode) => mode == RefreshMode.Bulk ? BulkSize : 0;

    /// <summary>Calls in flight in that mode: bulk calls each carry BulkSize users.</summary>
    public int CallsInFlight(RefreshMode mode) => mode == RefreshMode.Bulk ? BulkCalls : Concurrency;
}
