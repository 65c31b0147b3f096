using DontGoBack.CoreServer.Domain.Users;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// One user's asset for one day, unique per (user, day). The day's market move takes the
/// opening amount (the closing of the snapshot before) to opening × multiplier; rewards and
/// penalties until the next day's move add to the net flow. Closing = opening + market delta + net flow.
/// </summary>
public sealed class DailyAssetSnapshot
{
    public long Id { get; set; }
    public long UserId { get; set; }
    public User? User { get; set; }
    public DateOnly SnapshotDay { get; set; }

    /// <summary>Whole KRW before the day's market move.</summary>
    public long OpeningAmount { get; set; }

    /// <summary>Whole KRW now: after the market move and the day's net flow; never negative.</summary>
    public long ClosingAmount { get; set; }

    /// <summary>The extension's multiplier; null for an opening snapshot that had no market move.</summary>
    public double? MarketMultiplier { get; set; }

    public long MarketDelta { get; set; }

    /// <summary>Sum of the rewards and penalties recorded on this snapshot.</summary>
    public long NetFlow { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}
