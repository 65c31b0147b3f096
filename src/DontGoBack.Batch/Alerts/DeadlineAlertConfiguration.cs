using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.Batch.Alerts;

/// <summary>The alerts and their webhook outbox: one row per message, its delivery state beside it.</summary>
public sealed class DeadlineAlertConfiguration : IEntityTypeConfiguration<DeadlineAlert>
{
    public void Configure(EntityTypeBuilder<DeadlineAlert> alert)
    {
        alert.ToTable("batch_alerts");
        alert.Property(a => a.JobName).HasMaxLength(50);
        alert.Property(a => a.Condition).HasConversion<string>().HasMaxLength(30);
        alert.Property(a => a.Kind).HasConversion<string>().HasMaxLength(20);
        alert.Property(a => a.Delivery).HasConversion<string>().HasMaxLength(20);
        alert.Property(a => a.Node).HasMaxLength(200);
        alert.Property(a => a.Payload).HasMaxLength(8000);
        alert.Property(a => a.LastError).HasMaxLength(2000);
        // Each message once, whichever node finds the condition first.
        alert.HasIndex(a => new { a.JobName, a.Day, a.Condition, a.Kind }).IsUnique();
        alert.HasIndex(a => new { a.Delivery, a.NextAttemptAt });
    }
}
