using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>Defects the chaos campaign (bench/chaos.sh) found, each kept found by a test of its own.</summary>
public sealed class ChaosFindingsTests
{
    /// <summary>
    /// Seed 1, 2026-12-07: on the campaign's clock no clustered day ran its partitions; their triggers were dated by the
    /// system clock (Quartz's StartNow), so on a clock behind it they never came due, and on one ahead they waited for
    /// Quartz's misfire handler (up to a minute).
    /// </summary>
    [Theory]
    [InlineData(-400 * 24 * 60)]
    [InlineData(3)]
    public async Task A_clustered_day_on_a_clock_off_the_system_clock_runs_its_partitions_at_once(int minutesOff)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Postgres);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["Batch:Clustered"] = "true", ["Batch:PartitionSize"] = "2",
        });
        app.Time.Now = DateTimeOffset.UtcNow.AddMinutes(minutesOff);
        app.Time.StartTicking();
        app.CreateClient();
        var day = app.Services.GetRequiredService<BatchCalendar>().Today;
        await app.AddActiveUsersAsync(5, day.AddDays(-1), 10_000_000);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<BatchJobs>().Find(AssetRefreshJob.Name).RunnerIn(scope.ServiceProvider)
                .RunDueDaysAsync(day, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        }

        // Well inside Quartz's misfire threshold (a minute): the partitions ran because they were due, not because they were late.
        BatchRun? run = null;
        await Eventually.UntilAsync(async () =>
        {
            await using var db = database.CreateContext();
            run = await db.BatchRuns.AsNoTracking().SingleAsync(r => r.JobName == AssetRefreshJob.Name && r.Day == day);
            return run.Status != BatchRunStatus.Running;
        }, TimeSpan.FromSeconds(20));
        Assert.Equal((BatchRunStatus.Completed, 5), (run!.Status, run.Success));
        await using var check = database.CreateContext();
        Assert.Equal(3, await check.BatchRunPartitions.CountAsync(p => p.RunId == run.Id));
    }
}
