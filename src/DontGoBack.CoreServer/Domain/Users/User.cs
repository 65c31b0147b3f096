using DontGoBack.CoreServer.Domain.Assets;

namespace DontGoBack.CoreServer.Domain.Users;

public sealed class User
{
    public long Id { get; set; }
    public AccountStatus Status { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The user's snapshot with the greatest day; never moved back by a back-fill.</summary>
    public long? CurrentSnapshotId { get; set; }
    public DailyAssetSnapshot? CurrentSnapshot { get; set; }
}
