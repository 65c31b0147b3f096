using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.CoreServer.Domain.Users;

/// <summary>One change of a user's account status and why (dormancy, activity after dormancy); the history only grows.</summary>
public sealed class UserStatusChange
{
    public long Id { get; set; }
    public long UserId { get; set; }
    public AccountStatus FromStatus { get; set; }
    public AccountStatus ToStatus { get; set; }
    public string Reason { get; set; } = "";
    public DateTimeOffset ChangedAt { get; set; }
}

public sealed class UserStatusChangeConfiguration : IEntityTypeConfiguration<UserStatusChange>
{
    public void Configure(EntityTypeBuilder<UserStatusChange> change)
    {
        change.ToTable("user_status_changes");
        change.Property(c => c.FromStatus)
            .HasConversion(s => AccountStatusNames.ToStored(s), s => AccountStatusNames.FromStored(s))
            .HasMaxLength(20);
        change.Property(c => c.ToStatus)
            .HasConversion(s => AccountStatusNames.ToStored(s), s => AccountStatusNames.FromStored(s))
            .HasMaxLength(20);
        change.Property(c => c.Reason).HasMaxLength(500);
        change.HasIndex(c => new { c.UserId, c.Id });
        change.HasOne<User>().WithMany().HasForeignKey(c => c.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
