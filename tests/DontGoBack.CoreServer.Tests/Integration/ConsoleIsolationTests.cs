using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The internal surface against hostile pages, in a real browser: a page served on another port of
/// 127.0.0.1 (the same site, another origin) can neither start a run nor record activity with a form
/// or a no-cors fetch, nor frame the console; the console itself works under its security policy.
/// </summary>
[Collection(ConsoleBrowserCollection.Name)]
public sealed class ConsoleIsolationTests(ConsoleBrowser browser)
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private const string CrossOriginLog = "Cross-origin request refused";

    [Fact]
    public async Task A_page_of_another_origin_cannot_start_a_run_or_record_activity_with_a_form_or_a_no_cors_fetch()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var server = app.StartOnKestrel();
        var user = await app.AddUserAsync(AccountStatus.Active, (Day.AddDays(-1), 1_000_000));
        var trigger = new Uri(server, $"internal/batch/asset-refresh/runs?day={Day:yyyy-MM-dd}");
        var activity = new Uri(server, $"internal/users/{user}/activity");
        await using var hostile = await OtherOriginPage.StartAsync($"""
            <!DOCTYPE html><title>elsewhere</title>
            <form id="trigger" method="post" action="{trigger}"></form>
            <form id="activity" method="post" action="{activity}" enctype="text/plain"><input name="a" value="b"></form>
            """);
        Assert.NotEqual(server.Port, hostile.Url.Port);
        var page = await browser.OpenAsync(hostile.Url);

        // The forms: each lands on the server's refusal.
        foreach (var (form, target) in new[] { ("trigger", trigger), ("activity", activity) })
        {
            await page.GotoAsync(hostile.Url.ToString());
            var answer = await page.RunAndWaitForResponseAsync(
                () => page.EvaluateAsync($"() => document.getElementById('{form}').submit()"),
                response => response.Url == target.ToString());
            Assert.Equal(403, answer.Status);
            Assert.Contains("another origin of the same site", await answer.TextAsync());
        }

        // The no-cors fetches: their answers are opaque to the page, so the server's log proves they arrived.
        await page.GotoAsync(hostile.Url.ToString());
        foreach (var target in new[] { trigger, activity })
            await page.EvaluateAsync("url => fetch(url, { method: 'POST', mode: 'no-cors', body: 'x=1' })", target.ToString());
        await Eventually.UntilAsync(() => Task.FromResult(RefusalsLogged(app) == 4), TimeSpan.FromSeconds(20));
        Assert.Equal(2, app.Logs.Entries.Count(e => e.Message.StartsWith(CrossOriginLog, StringComparison.Ordinal) && e.Message.Contains("/runs")));

        await using (var db = database.CreateContext())
        {
            Assert.Equal(0, await db.BatchRuns.CountAsync());
            Assert.Null(await db.Users.Where(u => u.Id == user).Select(u => u.LastActivityAt).SingleAsync());
        }

        // The console's own page, same origin, still can: a fetch and a form.
        var console = await browser.OpenAsync(server);
        await console.GotoAsync("internal/console");
        Assert.Equal(200, await console.EvaluateAsync<int>("url => fetch(url, { method: 'POST' }).then(r => r.status)", activity.ToString()));
        var ran = await console.RunAndWaitForResponseAsync(
            () => console.EvaluateAsync("""
                url => { const form = document.createElement('form'); form.method = 'post'; form.action = url; document.body.append(form); form.submit(); }
                """, trigger.ToString()),
            response => response.Url == trigger.ToString());
        Assert.Equal(200, ran.Status);
        await using (var db = database.CreateContext())
        {
            Assert.Equal(1, await db.BatchRuns.CountAsync());
            Assert.NotNull(await db.Users.Where(u => u.Id == user).Select(u => u.LastActivityAt).SingleAsync());
        }
        Assert.Equal(4, RefusalsLogged(app));
    }

    [Fact]
    public async Task A_page_of_another_origin_that_frames_a_run_page_does_not_get_the_console()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server };
        await app.AddActiveUsersAsync(3, Day.AddDays(-1), 1_000_000);
        var run = await client.RunDayAsync(Day);
        var runPage = new Uri(server, $"internal/console/runs/{run.RunId}");
        await using var hostile = await OtherOriginPage.StartAsync($$"""
            <!DOCTYPE html><title>elsewhere</title>
            <script>
              const frame = document.createElement('iframe');
              window.framed = new Promise(done => frame.addEventListener('load', () => done()));
              frame.src = '{{runPage}}';
              document.addEventListener('DOMContentLoaded', () => document.body.append(frame));
            </script>
            """);
        // The operator's browser has used the console before (it holds the console's antiforgery
        // cookie, whose first answer alone used to forbid framing).
        var page = await browser.OpenAsync(server);
        await page.GotoAsync(runPage.ToString());
        await page.WaitForSelectorAsync("[data-field=run-status]");

        // The server answers the frame's request (with the page: it is the browser that refuses to show it).
        var answer = await page.RunAndWaitForResponseAsync(() => page.GotoAsync(hostile.Url.ToString()), response => response.Url == runPage.ToString());
        Assert.Equal(200, answer.Status);
        await page.EvaluateAsync("() => window.framed");

        var frame = Assert.Single(page.Frames, f => f != page.MainFrame);
        var shown = await frame.ContentAsync();
        Assert.DoesNotContain("DontGoBack console", shown);
        Assert.DoesNotContain("run-again", shown);
        Assert.Contains("frame-ancestors 'none'", await answer.HeaderValueAsync("content-security-policy") ?? "");
    }

    [Fact]
    public async Task The_console_works_under_its_content_security_policy_without_a_single_violation()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var settings = new Dictionary<string, string?>
        {
            ["Batch:ProgressInterval"] = "00:00:00.150",
            ["AssetRefresh:MaxConcurrency"] = "1",
            ["Extension:AttemptTimeout"] = "00:05:00",
            ["Extension:UserDeadline"] = "00:10:00",
        };
        await using var app = new CoreServerApp(database, settings);
        var server = app.StartOnKestrel();
        using var client = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromMinutes(5) };
        var users = await app.AddActiveUsersAsync(20, Day.AddDays(-1), 1_000_000);
        var earlier = await client.RunDayAsync(Day.AddDays(-1));
        // A run held mid-way, so the pages show their progress bars and live charts too.
        app.Extension.HoldCalls();
        app.Time.StartTicking();
        var running = client.RunDayAsync(Day);
        app.Extension.LetThrough(5);

        var page = await browser.OpenAsync(server);
        var problems = new List<string>();
        page.Console += (_, message) =>
        {
            // The browser's own favicon request (the console has none) is not the console's doing.
            if (message.Type is "error" or "warning" && !message.Location.StartsWith(new Uri(server, "favicon.ico").ToString(), StringComparison.Ordinal))
                problems.Add($"{page.Url}: console {message.Type} at {message.Location}: {message.Text}");
        };
        page.PageError += (_, error) => problems.Add($"{page.Url}: page error: {error}");
        await page.AddInitScriptAsync("""
            document.addEventListener('securitypolicyviolation', e => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
            """);

        await page.GotoAsync("internal/console");
        await page.WaitForFunctionAsync("() => document.querySelector('[data-job=asset-refresh] .bar span')?.style.width.endsWith('%')");
        await page.WaitForSelectorAsync("canvas[data-chart]");
        long runningId;
        await using (var db = database.CreateContext())
            runningId = await db.BatchRuns.Where(r => r.Status == BatchRunStatus.Running).Select(r => r.Id).SingleAsync();
        foreach (var path in new[]
                 {
                     "internal/console/runs", $"internal/console/runs/{earlier.RunId}", $"internal/console/users/{users[0]}",
                     "internal/console/schedule", "internal/console/audit", $"internal/console/runs/{runningId}",
                 })
        {
            await page.GotoAsync(path);
            await page.WaitForLoadStateAsync(LoadState.Load);
        }
        // The running run's page draws its live chart and sizes its bar from the data the server rendered.
        await page.WaitForFunctionAsync("() => document.querySelector('.bar span')?.style.width.endsWith('%')");

        app.Extension.StopHolding();
        Assert.Equal(BatchRunStatus.Completed, (await running).Status);
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    private static int RefusalsLogged(CoreServerApp app) =>
        app.Logs.Entries.Count(e => e.Level == LogLevel.Warning && e.Message.StartsWith(CrossOriginLog, StringComparison.Ordinal));
}
