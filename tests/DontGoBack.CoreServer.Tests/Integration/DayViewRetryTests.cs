using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>The console's retry goes the CLI's way: a day that owes nobody is not run again, and the audit says why.</summary>
public sealed class DayViewRetryTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_operator_retry_of_a_day_with_nothing_failed_or_unreached_is_refused_as_nothing_to_retry_and_records_no_attempt(
        DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        using var client = app.CreateClient();
        await app.AddActiveUsersAsync(6, Day.AddDays(-1), 1_000_000);
        var first = await client.RunDayAsync(Day);
        Assert.Equal((BatchRunStatus.Completed, 6), (first.Status, first.Success));
        await using var scope = app.Services.CreateAsyncScope();
        var actions = scope.ServiceProvider.GetRequiredService<OperatorActions>();
        var job = scope.ServiceProvider.GetRequiredService<BatchJobs>().Find("asset-refresh");

        var answer = await actions.StartDayAsync(job, Day, OperatorActionKind.Retry, reason: null, new Operator("127.0.0.1", "test"), CancellationToken.None);

        Assert.Equal(OperatorActionOutcome.Refused, answer.Outcome);
        Assert.Equal($"nothing to retry: asset refresh run {first.RunId} of 2025-08-10 is completed, with no failed or unreached active users", answer.Detail);
        await using var db = database.CreateContext();
        var audit = await db.OperatorActions.AsNoTracking().SingleAsync(a => a.Id == answer.AuditId);
        Assert.Equal((OperatorActionKind.Retry, OperatorActionOutcome.Refused, first.RunId), (audit.Action, audit.Outcome, audit.RunId));
        // Refused before anything started: no run was started in the background to add an attempt later.
        Assert.Equal(1, await db.BatchRunAttempts.CountAsync(a => a.RunId == first.RunId));
        Assert.Equal(1, (await db.BatchRuns.AsNoTracking().SingleAsync(r => r.Id == first.RunId)).Attempts);
    }
}
