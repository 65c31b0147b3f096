using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.Batch.Runs;

public sealed class BatchRunConfiguration : IEntityTypeConfiguration<BatchRun>
{
    public void Configure(EntityTypeBuilder<BatchRun> run)
    {
        run.ToTable("batch_runs");
        run.Property(r => r.JobName).HasMaxLength(50);
        run.Property(r => r.Status).HasConversion<string>().HasMaxLength(30);
        run.Property(r => r.LeaseOwner).HasMaxLength(32);
        run.Property(r => r.Nodes).HasMaxLength(2000);
        run.Property(r => r.Error).HasMaxLength(2000);
        run.Property(r => r.CancelReason).HasMaxLength(500);
        // A day is one job instance.
        run.HasIndex(r => new { r.JobName, r.Day }).IsUnique();
        // The console lists every job's runs newest first: ten years of days without a sort of them all.
        run.HasIndex(r => r.Day);
    }
}

public sealed class BatchRunAttemptConfiguration : IEntityTypeConfiguration<BatchRunAttempt>
{
    public void Configure(EntityTypeBuilder<BatchRunAttempt> attempt)
    {
        attempt.ToTable("batch_run_attempts");
        attempt.HasKey(a => new { a.RunId, a.Attempt });
        attempt.Property(a => a.Status).HasConversion<string>().HasMaxLength(30);
        attempt.Property(a => a.Error).HasMaxLength(2000);
        attempt.Property(a => a.Node).HasMaxLength(200);
        attempt.HasOne<BatchRun>().WithMany().HasForeignKey(a => a.RunId).OnDelete(DeleteBehavior.Cascade);
    }
}
