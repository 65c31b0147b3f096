
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Batch.Asset.UseCase;

/// <summary>The asset refresh's own counts of a run, kept by the engine as <see cref="BatchCounters"/> (<c>rebasedUsers</c>, <c>rebasedDays</c>).</summary>
/// <param name="RebasedUsers">Users whose later days were re-based because the run wrote a day behind them.</param>
/// <param name="RebasedDays">Their days that were re-based, in all.</param>
public sealed record AssetRefreshCounters(int RebasedUsers, int RebasedDays) : IJobCounters
{
    public string? Describe() => RebasedUsers > 0 ? $"re-based {RebasedDays} later days of {RebasedUsers} users" : null;
}
