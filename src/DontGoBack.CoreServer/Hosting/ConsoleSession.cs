using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// One console sign-in, kept in the database so every replica sees a sign-out at once. The cookie
/// holds a random secret; the row holds only its hash (a copy of the table signs nobody in) and the
/// fingerprint of the admin token it was issued under. No row, no session: sign-out and a changed
/// token delete rows, and nothing brings a deleted row back.
/// </summary>
public sealed class ConsoleSession
{
    /// <summary>SHA-256 of the cookie's secret, base64url.</summary>
    public string Id { get; set; } = "";

    /// <summary>Which admin token signed this session in (<see cref="AdminSession.TokenFingerprint"/>), never the token.</summary>
    public string TokenFingerprint { get; set; } = "";

    public DateTimeOffset IssuedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }

    /// <summary>The address that signed in, for whoever reads the table after an incident.</summary>
    public string Address { get; set; } = "";
}

public sealed class ConsoleSessionConfiguration : IEntityTypeConfiguration<ConsoleSession>
{
    public void Configure(EntityTypeBuilder<ConsoleSession> session)
    {
        session.ToTable("console_sessions");
        session.HasKey(s => s.Id);
        session.Property(s => s.Id).HasMaxLength(64);
        session.Property(s => s.TokenFingerprint).HasMaxLength(64);
        session.Property(s => s.Address).HasMaxLength(64);
        // A changed token deletes every session of the others at start-up.
        session.HasIndex(s => s.TokenFingerprint);
    }
}
