using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>Why a user's refresh for a day failed; removed once a later run succeeds for that day.</summary>
public sealed class AssetRefreshFailure
{
    public DateOnly SnapshotDay { get; set; }
    public long UserId { get; set; }
    public FailureClass FailureClass { get; set; }
    public string Reason { get; set; } = "";

    /// <summary>How many runs failed this user for this day.</summary>
    public int Attempts { get; set; }
    public DateTimeOffset FailedAt { get; set; }
}

public sealed class AssetRefreshFailureConfiguration : IEntityTypeConfiguration<AssetRefreshFailure>
{
    public void Configure(EntityTypeBuilder<AssetRefreshFailure> failure)
    {
        failure.ToTable("asset_refresh_failures");
        failure.HasKey(f => new { f.SnapshotDay, f.UserId });
        failure.Property(f => f.FailureClass).HasConversion<string>().HasMaxLength(20);
        failure.Property(f => f.Reason).HasMaxLength(500);
        // The console's search by class within a day of up to every user's failure, paged by user id.
        failure.HasIndex(f => new { f.SnapshotDay, f.FailureClass, f.UserId });
    }
}

public enum FailureClass
{
    /// <summary>Timeout, refused connection, 5xx or 429 after retries: worth another run.</summary>
    Transient,
    /// <summary>Other 4xx or an invalid answer: retrying the same request will not help.</summary>
    Permanent,
    /// <summary>The extension refused our credentials even after a fresh token.</summary>
    Auth,
}
