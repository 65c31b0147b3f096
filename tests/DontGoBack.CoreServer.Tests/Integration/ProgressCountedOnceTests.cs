using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.User;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using DontGoBack.Batch.Telemetry;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Options;
using System.Diagnostics.Metrics;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// One progress value per run, passed explicitly: the job reports each user's result to it once, and the meter, the
/// lease, the recorded run and a follower (the CLI's bar) all read that one count; the schedule watch hears of a
/// recorded run from the ledger, not from the metrics.
/// </summary>
public sealed class ProgressCountedOnceTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private const long StartAmount = 10_000_000;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Each_user_is_counted_once_so_the_progress_the_meter_and_the_recorded_run_all_show_the_same_n(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        app.CreateClient();
        using var users = new MetricCollector<long>(app.Services.GetRequiredService<IMeterFactory>(), BatchMetrics.MeterName, BatchMetrics.UsersProcessed);
        // 14 users, every way one can end: written, failed (transient and permanent), done already, opening after the day.
        var ids = await app.AddActiveUsersAsync(12, Day.AddDays(-1), StartAmount);
        await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), StartAmount), (Day, StartAmount));
        var opensLater = await app.AddUserAsync(AccountStatus.Active);
        await using (var db = database.CreateContext())
            await db.Users.Where(u => u.Id == opensLater).ExecuteUpdateAsync(set => set.SetProperty(u => u.OpeningDay, Day.AddDays(1)));
        app.Extension.Inject(Fault.ServerError, ids[1], ids[2]);
        app.Extension.Inject(Fault.BadRequest, ids[4]);
        const int n = 14;

        var followed = new List<RunProgress>();
        await using var scope = app.Services.CreateAsyncScope();
        var result = await scope.ServiceProvider.GetRequiredService<DailyJobRunner<AssetRefreshJob>>()
            .TryRunAsync(Day, CancellationToken.None, followProgress: followed.Add);

        // The job's own count of the users it took up, and its outcome: each of the 14 once.
        Assert.Equal((BatchRunStatus.CompletedWithFailures, n, 9, 2, 3), (result!.Status, result.Total, result.Success, result.Skipped, result.Failed));
        // The very value the job reported to, handed to the follower: a user reported twice would show here as more than 14.
        var progress = Assert.Single(followed).Snapshot();
        Assert.Equal((12, n, 9, 2, 3), (progress.Expected, progress.Seen, progress.Success, progress.Skipped, progress.Failed));
        // The meter counts what the progress was told, as it was told: a count of its own beside it would double these.
        var measured = users.GetMeasurementSnapshot();
        Assert.All(measured, m => Assert.Equal(AssetRefreshJob.Name, m.Tags[BatchMetrics.JobTag]));
        long Sum(string outcome) => measured.Where(m => Equals(m.Tags[BatchMetrics.OutcomeTag], outcome)).Sum(m => m.Value);
        Assert.Equal((n, 9L, 2L, 3L), (measured.Sum(m => m.Value), Sum("success"), Sum("skipped"), Sum("failed")));
        // The recorded run and its attempt hold the same figures the lease wrote from the same value.
        await using var check = database.CreateContext();
        var run = await check.BatchRuns.AsNoTracking().SingleAsync(r => r.Id == result.RunId);
        var attempt = await check.BatchRunAttempts.AsNoTracking().SingleAsync(a => a.RunId == result.RunId);
        Assert.Equal((n, 9, 2, 3), (run.Total, run.Success, run.Skipped, run.Failed));
        Assert.Equal((12, n, 9, 2, 3), (attempt.Expected, attempt.Total, attempt.Success, attempt.Skipped, attempt.Failed));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_job_that_reports_its_users_only_to_its_progress_is_counted_by_the_meter(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        using var users = new MetricCollector<long>(app.Services.GetRequiredService<IMeterFactory>(), BatchMetrics.MeterName, BatchMetrics.UsersProcessed);
        // Dormancy knows nothing of the meter: it reports to its progress alone. Three accounts long open and never
        // active become dormant; two opened this year are left (skipped).
        var dormant = new List<long>();
        for (var i = 0; i < 3; i++)
            dormant.Add(await app.AddUserAsync(AccountStatus.Active));
        for (var i = 0; i < 2; i++)
            await app.AddUserAsync(AccountStatus.Active);
        await using (var db = database.CreateContext())
            await db.Users.Where(u => dormant.Contains(u.Id)).ExecuteUpdateAsync(set => set.SetProperty(u => u.OpeningDay, Day.AddDays(-500)));

        var result = await RefreshRuns.ResultOfAsync(await client.PostAsync($"/internal/batch/{UserDormancyJob.Name}/runs?day={Day:yyyy-MM-dd}", null));

        Assert.Equal((BatchRunStatus.Completed, 5, 3, 2, 0), (result.Status, result.Total, result.Success, result.Skipped, result.Failed));
        var measured = users.GetMeasurementSnapshot();
        Assert.All(measured, m => Assert.Equal(UserDormancyJob.Name, m.Tags[BatchMetrics.JobTag]));
        long Sum(string outcome) => measured.Where(m => Equals(m.Tags[BatchMetrics.OutcomeTag], outcome)).Sum(m => m.Value);
        Assert.Equal((3L, 2L, 0L), (Sum("success"), Sum("skipped"), Sum("failed")));
    }

    [Fact]
    public async Task The_schedule_watch_reads_the_standing_again_as_soon_as_the_ledger_records_a_run_whoever_recorded_it()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        app.CreateClient();
        var meters = app.Services.GetRequiredService<IMeterFactory>();
        using var overdue = new MetricCollector<int>(meters, BatchMetrics.MeterName, BatchMetrics.Overdue);
        using var sinceLastThrough = new MetricCollector<double>(meters, BatchMetrics.MeterName, BatchMetrics.SinceLastThrough);
        // A watch of its own on an enabled schedule (the app's is off) whose next round is ten minutes away: only the notice wakes it sooner.
        var schedule = new DailyJobSchedule<AssetRefreshJob>(AssetRefreshJob.Definition,
            () => new AssetRefreshOptions { Enabled = true, Cron = "0 0 3 * * ?", CompleteBy = new TimeOnly(6, 0) });
        var watch = ActivatorUtilities.CreateInstance<DailyJobWatch>(app.Services, new DailyJobSchedule[] { schedule }.AsEnumerable(),
            Options.Create(new BatchOptions { WatchInterval = TimeSpan.FromMinutes(10) }));
        await watch.StartAsync(CancellationToken.None);
        try
        {
            // Its first round has read the standing: no day through yet, so no time since one.
            await Eventually.UntilAsync(() => Task.FromResult(Measured(overdue)), TimeSpan.FromSeconds(20));
            Assert.False(Measured(sinceLastThrough));

            // Recorded straight through the ledger: no run of this process, no telemetry, no metrics on the way.
            await using (var scope = app.Services.CreateAsyncScope())
            {
                var ledger = scope.ServiceProvider.GetRequiredService<BatchRunLedger>();
                var claim = await ledger.TryClaimAsync(AssetRefreshJob.Name, Day, rerunCompleted: true, CancellationToken.None);
                Assert.True(await ledger.FinishAsync(claim!, new BatchResult(Day, BatchRunStatus.Completed, 1, 1, 0, 0, 10), CancellationToken.None));
            }

            // Read again at once, not ten minutes later: the day through is on the gauge.
            await Eventually.UntilAsync(() => Task.FromResult(Measured(sinceLastThrough)), TimeSpan.FromSeconds(20));
        }
        finally
        {
            await watch.StopAsync(CancellationToken.None);
            watch.Dispose();
        }
    }

    private static bool Measured<T>(MetricCollector<T> gauge) where T : struct
    {
        gauge.RecordObservableInstruments();
        return gauge.GetMeasurementSnapshot().Any(m => Equals(m.Tags[BatchMetrics.JobTag], AssetRefreshJob.Name));
    }
}
