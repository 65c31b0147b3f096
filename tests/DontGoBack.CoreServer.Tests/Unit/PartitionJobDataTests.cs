using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Runs;
using Microsoft.Extensions.Logging.Abstractions;
using Quartz.Impl;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class PartitionJobDataTests
{
    [Fact]
    public void A_partitions_job_data_binds_back_to_the_same_order_through_quartzs_job_factory()
    {
        var order = new PartitionOrder(new RunClaim(long.MaxValue - 1, 3, "0123abcd"), new DateOnly(2025, 8, 10), 41,
            new IdRange(9_000_000_001, 9_000_050_000));
        var job = new DailyJobPartition<AssetRefreshJob>(null!);

        new BindingFactory().Bind(job, DailyJobPartition<AssetRefreshJob>.JobData(order));

        Assert.Equal(order, job.Order);
        // The factory that builds jobs from the container binds job data the same way.
        Assert.True(typeof(PropertySettingJobFactory).IsAssignableFrom(typeof(MicrosoftDependencyInjectionJobFactory)));
    }

    /// <summary>Quartz's own binding, which the DI job factory applies to every job it builds, made reachable; mismatches throw instead of being ignored.</summary>
    private sealed class BindingFactory() : PropertySettingJobFactory(NullLoggerFactory.Instance)
    {
        public void Bind(object job, Quartz.JobDataMap data)
        {
            PropertyMismatchBehavior = PropertyMismatchBehavior.Throw;
            SetObjectProperties(job, data);
        }
    }
}
