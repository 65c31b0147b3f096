using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.Batch.Operations;

public sealed class OperatorActionConfiguration : IEntityTypeConfiguration<OperatorAction>
{
    public void Configure(EntityTypeBuilder<OperatorAction> action)
    {
        action.ToTable("operator_actions");
        action.Property(a => a.Action).HasConversion<string>().HasMaxLength(20);
        action.Property(a => a.Outcome).HasConversion<string>().HasMaxLength(20);
        action.Property(a => a.JobName).HasMaxLength(50);
        action.Property(a => a.Address).HasMaxLength(64);
        action.Property(a => a.TokenName).HasMaxLength(100);
        action.Property(a => a.Reason).HasMaxLength(500);
        action.Property(a => a.Detail).HasMaxLength(2000);
        // Pages newest first (ids grow with time), all of them by the key or one job's by this.
        action.HasIndex(a => new { a.JobName, a.Id });
    }
}

public sealed class SchedulePauseConfiguration : IEntityTypeConfiguration<SchedulePause>
{
    public void Configure(EntityTypeBuilder<SchedulePause> pause)
    {
        pause.ToTable("batch_schedule_pauses");
        pause.HasKey(p => p.JobName);
        pause.Property(p => p.JobName).HasMaxLength(50);
        pause.Property(p => p.Reason).HasMaxLength(500);
        pause.Property(p => p.Address).HasMaxLength(64);
        pause.Property(p => p.TokenName).HasMaxLength(100);
    }
}
