using DontGoBack.Batch.Runs;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DontGoBack.Batch.Cluster;

public sealed class BatchRunPartitionConfiguration : IEntityTypeConfiguration<BatchRunPartition>
{
    public void Configure(EntityTypeBuilder<BatchRunPartition> partition)
    {
        partition.ToTable("batch_run_partitions");
        partition.HasKey(p => new { p.RunId, p.PartitionNo });
        partition.Property(p => p.Status).HasConversion<string>().HasMaxLength(20);
        partition.Property(p => p.Node).HasMaxLength(200);
        partition.Property(p => p.Error).HasMaxLength(2000);
        partition.HasOne<BatchRun>().WithMany().HasForeignKey(p => p.RunId).OnDelete(DeleteBehavior.Cascade);
    }
}
