using System.Globalization;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Common;
using Quartz;

namespace DontGoBack.CoreServer.Batch.Asset.Scheduler;

/// <summary>One partition of a clustered day, on whichever node picked it up; only triggers the job's partition run.</summary>
public sealed class AssetRefreshPartitionJob(AssetRefreshJob job) : IJob
{
    public const string RunIdKey = "runId";
    public const string OwnerKey = "owner";
    public const string AttemptKey = "attempt";
    public const string DayKey = "day";
    public const string PartitionKey = "partition";
    public const string FirstUserKey = "firstUser";
    public const string LastUserKey = "lastUser";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var data = context.MergedJobDataMap;
        long Long(string key) => long.Parse(data.GetString(key)!, CultureInfo.InvariantCulture);
        var claim = new RunClaim(Long(RunIdKey), (int)Long(AttemptKey), data.GetString(OwnerKey)!);
        await job.RunPartitionAsync(
            claim, DateOnly.ParseExact(data.GetString(DayKey)!, "O", CultureInfo.InvariantCulture), (int)Long(PartitionKey),
            new UserIdRange(Long(FirstUserKey), Long(LastUserKey)), cancellationToken);
    }
}
