using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Storage;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The internal surface against browsers and guessers, over plain HTTP: cross-origin posts refused
/// by their Fetch Metadata or Origin, the console's security headers on every answer, failed admin
/// tokens throttled per address, console sessions that end on sign-out and with a changed token.
/// </summary>
public sealed partial class InternalSurfaceTests
{
    private const string Token = "surface-test-token";
    private const string TriggerToday = RefreshRuns.Path + "?day=2025-08-10";
    private const string CrossOriginLog = "Cross-origin request refused";

    public static TheoryData<string?, string?, string?, string> RefusedHeaders => new()
    {
        // Sec-Fetch-Site, Origin, content type, what the problem says
        { "cross-site", null, "application/x-www-form-urlencoded", "another site" },
        { "same-site", null, "text/plain", "another origin of the same site" },
        { "same-site", "http://localhost:8080", "multipart/form-data; boundary=x", "same site" },
        { "same-origin", "http://evil.example", "application/json", "evil.example" },
        { null, "http://localhost:8080", "application/x-www-form-urlencoded", "localhost:8080" },
        { null, "https://localhost", "text/plain", "https://localhost" },
        { null, "null", "text/plain", "(null)" },
        { null, "http://evil.example", null, "is not this server's" },
        { "unheard-of", null, null, "unheard-of" },
    };

    [Theory]
    [MemberData(nameof(RefusedHeaders))]
    public async Task A_post_a_browser_sent_for_another_origin_is_a_403_problem_whatever_its_type_and_changes_nothing(
        string? fetchSite, string? origin, string? contentType, string mentions)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active);

        foreach (var path in new[] { TriggerToday, $"/internal/users/{user}/activity" })
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path);
            if (contentType is not null)
                request.Content = new StringContent("a=b", Encoding.UTF8, MediaTypeOf(contentType));
            if (fetchSite is not null)
                request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", fetchSite);
            if (origin is not null)
                request.Headers.TryAddWithoutValidation("Origin", origin);

            var problem = await (await client.SendAsync(request)).AssertProblemAsync(HttpStatusCode.Forbidden, mentions);
            Assert.Equal("Cross-origin request refused", problem.Title);
        }

        // Both arrived and were refused, each with one log line, and neither did anything.
        Assert.Equal(2, app.Logs.Entries.Count(e => e.Level == LogLevel.Warning && e.Message.StartsWith(CrossOriginLog, StringComparison.Ordinal)));
        await using var db = database.CreateContext();
        Assert.Equal(0, await db.BatchRuns.CountAsync());
        Assert.Null(await LastActivityOfAsync(app, user));
    }

    [Theory]
    [InlineData("rebound.example:8080")]
    [InlineData("REBOUND.example")]
    [InlineData("localhost.rebound.example")]
    [InlineData("127.0.0.1.nip.example")]
    public async Task A_request_naming_the_server_by_a_name_it_does_not_have_is_refused_reads_included_so_dns_rebinding_gets_nothing(string host)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active);
        // What a rebound page's own requests look like: same-origin by its browser's lights.
        var origin = $"http://{host.ToLowerInvariant()}";

        foreach (var (method, path) in new[] { (HttpMethod.Post, $"/internal/users/{user}/activity"), (HttpMethod.Post, TriggerToday), (HttpMethod.Get, "/internal/batch/runs"), (HttpMethod.Get, "/internal/console") })
        {
            var request = new HttpRequestMessage(method, path);
            request.Headers.Host = host;
            request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", "same-origin");
            request.Headers.TryAddWithoutValidation("Origin", origin);

            var problem = await (await client.SendAsync(request)).AssertProblemAsync(HttpStatusCode.Forbidden, "InternalAccess:Hosts");
            Assert.Equal("Unknown host name", problem.Title);
        }

        Assert.Equal(4, app.Logs.Entries.Count(e => e.Level == LogLevel.Warning && e.Message.StartsWith("Request for an unknown host name refused", StringComparison.Ordinal)));
        await using var db = database.CreateContext();
        Assert.Equal(0, await db.BatchRuns.CountAsync());
        Assert.Null(await LastActivityOfAsync(app, user));
    }

    [Theory]
    [InlineData("localhost", null)]
    [InlineData("LocalHost:5070", null)]
    [InlineData("127.0.0.1:5070", null)]
    [InlineData("[::1]:5070", null)]
    [InlineData("core.example:443", "core.example")]
    public async Task A_request_naming_the_server_by_an_address_localhost_or_a_listed_name_goes_through(string host, string? listed)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, listed is null ? [] : new Dictionary<string, string?> { ["InternalAccess:Hosts:0"] = listed });
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active);

        var request = new HttpRequestMessage(HttpMethod.Post, $"/internal/users/{user}/activity");
        request.Headers.Host = host;

        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
        Assert.NotNull(await LastActivityOfAsync(app, user));
    }

    public static TheoryData<string?, string?> AllowedHeaders => new()
    {
        { null, null },
        { "same-origin", null },
        { "same-origin", "http://localhost" },
        { null, "http://localhost:80" },
        { "none", null },
    };

    [Theory]
    [MemberData(nameof(AllowedHeaders))]
    public async Task A_post_from_the_servers_own_origin_or_from_no_browser_at_all_goes_through(string? fetchSite, string? origin)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var client = app.CreateClient();
        var user = await app.AddUserAsync(AccountStatus.Active);

        var request = new HttpRequestMessage(HttpMethod.Post, $"/internal/users/{user}/activity");
        if (fetchSite is not null)
            request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", fetchSite);
        if (origin is not null)
            request.Headers.TryAddWithoutValidation("Origin", origin);
        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(await LastActivityOfAsync(app, user));
    }

    [Fact]
    public async Task A_cross_site_get_is_not_refused_it_changes_nothing()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);
        var request = new HttpRequestMessage(HttpMethod.Get, "/internal/batch/runs");
        request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", "cross-site");
        request.Headers.TryAddWithoutValidation("Origin", "http://evil.example");

        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().SendAsync(request)).StatusCode);
    }

    [Fact]
    public async Task Every_internal_answer_forbids_framing_and_carries_the_consoles_content_security_policy()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?> { ["InternalAccess:AdminToken"] = Token });
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        var answers = new List<(string What, HttpResponseMessage Response)>
        {
            ("a page", await GetHtmlAsync(client, "/internal/console/sign-in")),
            ("a redirect to sign in", await GetHtmlAsync(client, "/internal/console/runs")),
            ("a stylesheet", await client.GetAsync("/internal/console/assets/console.css")),
            ("a script", await client.GetAsync("/internal/console/assets/console.js")),
            ("a 401 problem", await client.GetAsync("/internal/batch/runs")),
            ("a 404 under the console", await WithTokenAsync(client, HttpMethod.Get, "/internal/console/no-such-page")),
            ("an API answer", await WithTokenAsync(client, HttpMethod.Get, "/internal/batch/runs")),
            ("a cross-origin refusal", await CrossSitePostAsync(client, TriggerToday)),
        };
        app.RemoteAddress = IPAddress.Parse("203.0.113.9");
        answers.Add(("an address refusal", await GetHtmlAsync(client, "/internal/console")));

        Assert.Equal(
            [HttpStatusCode.OK, HttpStatusCode.Redirect, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.Unauthorized,
                HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden],
            answers.Select(a => a.Response.StatusCode));
        foreach (var (what, response) in answers)
        {
            var policy = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
            Assert.True(policy.Contains("frame-ancestors 'none'", StringComparison.Ordinal), $"{what}: {policy}");
            foreach (var directive in new[] { "default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'" })
                Assert.True(policy.Contains(directive, StringComparison.Ordinal), $"{what} lacks {directive}: {policy}");
            Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
            Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        }
    }

    [Fact]
    public async Task Wrong_admin_tokens_from_one_address_are_throttled_with_a_429_logged_once_and_other_addresses_are_not()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["InternalAccess:AdminToken"] = Token,
            ["InternalAccess:FailedAuthentication:Burst"] = "3",
            ["InternalAccess:FailedAuthentication:Interval"] = "00:01:00",
        });
        var client = app.CreateClient();
        var guesser = IPAddress.Parse("127.0.0.2");
        var colleague = IPAddress.Parse("127.0.0.3");

        app.RemoteAddress = guesser;
        for (var guess = 0; guess < 3; guess++)
            await (await WithTokenAsync(client, HttpMethod.Get, "/internal/batch/runs", $"guess-{guess}")).AssertProblemAsync(HttpStatusCode.Unauthorized);
        for (var guess = 3; guess < 40; guess++)
        {
            var refused = await WithTokenAsync(client, HttpMethod.Get, "/internal/batch/runs", $"guess-{guess}");
            await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests, "too many wrong admin tokens");
            Assert.Equal(TimeSpan.FromMinutes(1), refused.Headers.RetryAfter?.Delta);
        }
        // While refused, even the right token is not checked: a 200 would tell a guesser it had won.
        Assert.Equal(HttpStatusCode.TooManyRequests, (await WithTokenAsync(client, HttpMethod.Get, "/internal/batch/runs")).StatusCode);

        app.RemoteAddress = colleague;
        Assert.Equal(HttpStatusCode.OK, (await WithTokenAsync(client, HttpMethod.Get, "/internal/batch/runs")).StatusCode);

        // 37 refusals, one line.
        var logged = app.Logs.Entries.Where(e => e.Message.StartsWith("Failed authentication", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(logged);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.Contains("127.0.0.2", line.Message);

        // Once the interval has passed, the address may try again.
        app.Time.Now += TimeSpan.FromMinutes(1);
        app.RemoteAddress = guesser;
        Assert.Equal(HttpStatusCode.OK, (await WithTokenAsync(client, HttpMethod.Get, "/internal/batch/runs")).StatusCode);
    }

    [Fact]
    public async Task Wrong_tokens_on_the_sign_in_page_count_as_failures_and_a_throttled_address_cannot_sign_in()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["InternalAccess:AdminToken"] = Token,
            ["InternalAccess:FailedAuthentication:Burst"] = "2",
            ["InternalAccess:FailedAuthentication:Interval"] = "00:00:30",
        });
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        Assert.Equal(HttpStatusCode.Unauthorized, (await PostSignInAsync(client, "wrong-1")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostSignInAsync(client, "wrong-2")).StatusCode);
        var refused = await PostSignInAsync(client, Token);
        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests, "after 30 s");
        Assert.Equal(TimeSpan.FromSeconds(30), refused.Headers.RetryAfter?.Delta);
        Assert.DoesNotContain(refused.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : [],
            c => c.StartsWith(Hosting.AdminSession.CookieName + "=", StringComparison.Ordinal));

        app.Time.Now += TimeSpan.FromSeconds(30);
        Assert.Equal(HttpStatusCode.Redirect, (await PostSignInAsync(client, Token)).StatusCode);
    }

    /// <summary>
    /// Razor runs the page's sign-in for an empty handler name as for none, so a post naming one
    /// (in any case) is a sign-in attempt too: before, it skipped the throttle, guessed without end
    /// (401 or a redirect told it which) and signed in while its address was refused.
    /// </summary>
    [Theory]
    [InlineData("?handler=")]
    [InlineData("?Handler=")]
    [InlineData("?HANDLER=&returnUrl=%2Finternal%2Fconsole")]
    public async Task A_sign_in_post_naming_an_empty_handler_is_throttled_like_any_other(string query)
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database, new Dictionary<string, string?>
        {
            ["InternalAccess:AdminToken"] = Token,
            ["InternalAccess:FailedAuthentication:Burst"] = "2",
            ["InternalAccess:FailedAuthentication:Interval"] = "00:00:30",
        });
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        Assert.Equal(HttpStatusCode.Unauthorized, (await PostSignInAsync(client, "wrong-1", query)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostSignInAsync(client, "wrong-2", query)).StatusCode);
        await (await PostSignInAsync(client, "wrong-3", query)).AssertProblemAsync(HttpStatusCode.TooManyRequests, "after 30 s");
        var refused = await PostSignInAsync(client, Token, query);
        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests, "after 30 s");
        Assert.DoesNotContain(refused.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : [],
            c => c.StartsWith(Hosting.AdminSession.CookieName + "=", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Sign_out_ends_the_session_on_every_replica_so_a_copied_cookie_stops_working(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var settings = new Dictionary<string, string?> { ["InternalAccess:AdminToken"] = Token };
        await using var first = new CoreServerApp(database, settings);
        await using var second = new CoreServerApp(database, settings);
        var browser = first.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var thief = second.CreateClient();

        var cookie = await SignInAsync(browser);
        Assert.Equal(HttpStatusCode.OK, (await WithCookieAsync(thief, cookie)).StatusCode);

        await SignOutAsync(browser);

        await (await WithCookieAsync(thief, cookie)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await WithCookieAsync(first.CreateClient(), cookie)).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_changed_token_ends_every_session_of_the_old_one_and_configuring_it_again_does_not_revive_them(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var oldToken = new Dictionary<string, string?> { ["InternalAccess:AdminToken"] = Token };
        string cookie;
        await using (var before = new CoreServerApp(database, oldToken))
        {
            cookie = await SignInAsync(before.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false }));
            Assert.Equal(HttpStatusCode.OK, (await WithCookieAsync(before.CreateClient(), cookie)).StatusCode);
        }

        LogCollector rotatedLogs;
        await using (var rotated = new CoreServerApp(database, new Dictionary<string, string?>
                     {
                         ["InternalAccess:AdminToken"] = "the-new-token",
                         ["Logging:LogLevel:DontGoBack.CoreServer.Hosting.ConsoleSessionSweep"] = "Information",
                     }))
        {
            rotatedLogs = rotated.Logs;
            await (await WithCookieAsync(rotated.CreateClient(), cookie)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        }

        await using var back = new CoreServerApp(database, oldToken);
        await (await WithCookieAsync(back.CreateClient(), cookie)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        // The server with the new token ended the old token's session as it started (before serving anyone).
        Assert.Contains(rotatedLogs.Entries, e => e.Message.Contains("1 sessions issued under another admin token were ended"));
        // The old token itself still signs in afresh.
        var fresh = await SignInAsync(back.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false }));
        Assert.Equal(HttpStatusCode.OK, (await WithCookieAsync(back.CreateClient(), fresh)).StatusCode);
    }

    private static async Task<DateTimeOffset?> LastActivityOfAsync(CoreServerApp app, long userId)
    {
        await using var db = app.Database.CreateContext();
        return await db.Users.AsNoTracking().Where(u => u.Id == userId).Select(u => u.LastActivityAt).SingleAsync();
    }

    private static string MediaTypeOf(string contentType) => contentType.Split(';')[0];

    private static Task<HttpResponseMessage> GetHtmlAsync(HttpClient client, string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/html");
        return client.SendAsync(request);
    }

    private static Task<HttpResponseMessage> WithTokenAsync(HttpClient client, HttpMethod method, string path, string token = Token)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("X-Admin-Token", token);
        return client.SendAsync(request);
    }

    private static Task<HttpResponseMessage> CrossSitePostAsync(HttpClient client, string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path);
        request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", "cross-site");
        return client.SendAsync(request);
    }

    /// <summary>The API with only this session cookie, as whoever copied it would send it.</summary>
    private static Task<HttpResponseMessage> WithCookieAsync(HttpClient client, string cookie)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/internal/batch/runs");
        request.Headers.Add("Cookie", $"{Hosting.AdminSession.CookieName}={cookie}");
        return client.SendAsync(request);
    }

    /// <summary>Posts the console's sign-in form (with its antiforgery token) as a browser would.</summary>
    private static async Task<HttpResponseMessage> PostSignInAsync(HttpClient client, string token, string query = "")
    {
        var page = await (await GetHtmlAsync(client, "/internal/console/sign-in")).Content.ReadAsStringAsync();
        return await client.PostAsync("/internal/console/sign-in" + query, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = token, ["returnUrl"] = "/internal/console", ["__RequestVerificationToken"] = AntiforgeryToken(page),
        }));
    }

    /// <summary>Signs in through the console's form and answers the session cookie's value.</summary>
    private static async Task<string> SignInAsync(HttpClient client)
    {
        var response = await PostSignInAsync(client, Token);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(Hosting.AdminSession.CookieName + "=", StringComparison.Ordinal));
        return setCookie[(Hosting.AdminSession.CookieName.Length + 1)..setCookie.IndexOf(';', StringComparison.Ordinal)];
    }

    /// <summary>Presses the console's "Sign out" (the client holds the session cookie).</summary>
    private static async Task SignOutAsync(HttpClient client)
    {
        var page = await (await GetHtmlAsync(client, "/internal/console")).Content.ReadAsStringAsync();
        var response = await client.PostAsync("/internal/console/sign-in?handler=SignOut", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = AntiforgeryToken(page),
        }));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
    }

    private static string AntiforgeryToken(string page) =>
        WebUtility.HtmlDecode(AntiforgeryField().Match(page) is { Success: true } match ? match.Groups[1].Value
            : throw new InvalidOperationException("The page has no antiforgery token:\n" + page));

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
