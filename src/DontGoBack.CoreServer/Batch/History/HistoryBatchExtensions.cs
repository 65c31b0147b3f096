using DontGoBack.CoreServer.Batch.History;
using DontGoBack.Batch.Runs;

// In the namespace of the batches' endpoints, which Program.cs already uses, so the batch costs it one line.
namespace DontGoBack.CoreServer.Batch;

public static class HistoryBatchExtensions
{
    /// <summary>Registers the daily history maintenance on the batch engine.</summary>
    public static IHostApplicationBuilder AddHistoryBatch(this IHostApplicationBuilder builder) =>
        builder.AddDailyJob<HistoryMaintenanceJob, HistoryMaintenanceOptions>(HistoryMaintenanceJob.Definition);
}
