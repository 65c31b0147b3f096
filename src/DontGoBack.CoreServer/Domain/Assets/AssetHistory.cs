using DontGoBack.CoreServer.Domain.Users;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>One snapshot of a user's asset for one day; (UserId, SnapshotDay) is unique.</summary>
public sealed class AssetHistory
{
    public long Id { get; set; }
    public long UserId { get; set; }
    public User? User { get; set; }

    /// <summary>Whole KRW, never negative.</summary>
    public long Amount { get; set; }
    public double Multiplier { get; set; }
    public DateOnly SnapshotDay { get; set; }
    public DateTimeOffset ChangedAt { get; set; }
}
