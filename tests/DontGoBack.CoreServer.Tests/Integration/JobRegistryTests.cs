using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Fault = DontGoBack.CoreServer.Tests.Infrastructure.FakeExtensionServer.Fault;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// One registry knows every job: a name (a job's, or a subset's its runs are recorded under) is resolved there, an unknown one is
/// refused there with one message naming the jobs, and a run finds its job's failures through it, a back-fill's subset run too.
/// </summary>
public sealed partial class JobRegistryTests
{
    /// <summary>The day back-filled: the day before the app's today (2025-08-10 in Seoul).</summary>
    private static readonly DateOnly Day = new(2025, 8, 9);

    private const string Refusal = "there is no job 'nope'; the jobs are asset-refresh (some users only: asset-refresh-subset), user-dormancy, history-maintenance";

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_backfill_subset_run_shows_its_failures_on_its_page_and_in_the_api(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var users = await app.AddActiveUsersAsync(6, Day.AddDays(-1), 1_000_000);
        app.Extension.Inject(Fault.BadRequest, users[1], users[3]);

        // What `backfill --users` does: a run of some users only, recorded under the job's subset name.
        BatchResult result;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            result = (await scope.ServiceProvider.GetRequiredService<DailyJobRunner<AssetRefreshJob>>()
                .TryRunAsync(Day, CancellationToken.None, new IdRange(users[0], users[3])))!;
        }
        Assert.Equal((BatchRunStatus.CompletedWithFailures, 2, 2), (result.Status, result.Success, result.Failed));
        await using (var db = database.CreateContext())
            Assert.Equal(AssetRefreshJob.SubsetName, (await db.BatchRuns.SingleAsync(r => r.Id == result.RunId)).JobName);

        using var detail = JsonDocument.Parse(await client.GetStringAsync($"/internal/batch/runs/{result.RunId}"));
        var failures = detail.RootElement.GetProperty("failures");
        Assert.True(failures.ValueKind == JsonValueKind.Object, $"the subset run's failures are {failures.ValueKind}");
        Assert.Equal(2, failures.GetProperty("totalCount").GetInt32());
        Assert.Equal([users[1], users[3]], failures.GetProperty("items").EnumerateArray().Select(f => f.GetProperty("userId").GetInt64()));

        var page = await client.GetStringAsync($"/internal/console/runs/{result.RunId}");
        var table = FailuresTable().Match(page);
        Assert.True(table.Success, "the subset run's page has no failures table");
        Assert.Equal([users[1], users[3]], UserCell().Matches(table.Value).Select(m => long.Parse(m.Groups[1].Value)));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_unknown_job_gets_the_registrys_one_refusal_on_every_http_and_console_surface(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        var trigger = await client.PostAsync("/internal/batch/nope/runs", null);
        Assert.Equal(Refusal, (await trigger.AssertProblemAsync(HttpStatusCode.NotFound)).Detail);
        // A subset's name is where back-fills are recorded, not a job to run.
        var subset = await client.PostAsync($"/internal/batch/{AssetRefreshJob.SubsetName}/runs", null);
        Assert.StartsWith($"there is no job '{AssetRefreshJob.SubsetName}'; the jobs are asset-refresh",
            (await subset.AssertProblemAsync(HttpStatusCode.NotFound)).Detail);
        var pause = await client.PostAsJsonAsync("/internal/batch/nope/schedule/pause", new { reason = "x" });
        Assert.Equal(Refusal, (await pause.AssertProblemAsync(HttpStatusCode.NotFound)).Detail);
        Assert.Equal(Refusal, (await (await client.GetAsync("/internal/batch/runs?job=nope")).AssertProblemAsync(HttpStatusCode.BadRequest)).Detail);
        Assert.Equal(Refusal, (await (await client.GetAsync("/internal/batch/audit?job=nope")).AssertProblemAsync(HttpStatusCode.BadRequest)).Detail);
        // A subset's runs are listed by its name.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/internal/batch/runs?job={AssetRefreshJob.SubsetName}")).StatusCode);

        Assert.Contains(Refusal, WebUtility.HtmlDecode(await client.GetStringAsync("/internal/console/runs?job=nope")));
        Assert.Contains(Refusal, WebUtility.HtmlDecode(await client.GetStringAsync("/internal/console/audit?job=nope")));
        var schedule = await client.GetStringAsync("/internal/console/schedule");
        var form = new FormUrlEncodedContent([new("reason", "x"), new("__RequestVerificationToken", AntiforgeryField().Match(schedule).Groups[1].Value)]);
        var consolePause = await client.PostAsync("/internal/console/schedule?handler=Pause&job=nope", form);
        Assert.Equal(HttpStatusCode.NotFound, consolePause.StatusCode);
        Assert.Contains("There is no job 'nope'; the jobs are asset-refresh (some users only: asset-refresh-subset), user-dormancy, history-maintenance.",
            WebUtility.HtmlDecode(await consolePause.Content.ReadAsStringAsync()));

        // Each refused action has its audit row, with the same words.
        await using var db = database.CreateContext();
        var audited = await db.OperatorActions.OrderBy(a => a.Id).Select(a => a.Detail).ToListAsync();
        Assert.Equal([Refusal, audited[1], Refusal, Refusal], audited);
        Assert.StartsWith($"there is no job '{AssetRefreshJob.SubsetName}';", audited[1]);
    }

    [GeneratedRegex("<table class=\"table\" data-test=\"failures\">.*?</table>", RegexOptions.Singleline)]
    private static partial Regex FailuresTable();

    [GeneratedRegex("<td><a href=\"[^\"]*\">(\\d+)</a></td>")]
    private static partial Regex UserCell();

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
