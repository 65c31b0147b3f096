using System.CommandLine;
using System.Globalization;
using DontGoBack.BenchSeed;
using DontGoBack.ReadBench;
using Npgsql;

// Numbers read the same on every machine.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var connectionOption = new Option<string>("--connection") { Required = true, Description = "PostgreSQL connection string of the bench database" };
var usersOption = new Option<int>("--users") { Required = true, Description = "Users seeded (ids 1..N)" };
var daysOption = new Option<int>("--days") { Required = true, Description = "Days of history per user" };
var lastDayOption = new Option<string>("--last-day") { Required = true, Description = "Newest day of the history, YYYY-MM-DD (today in the batch zone)" };
var rollupMonthsOption = new Option<int>("--rollup-months")
{
    DefaultValueFactory = _ => 0,
    Description = "Months of monthly roll-ups before the daily rows, as the history lifecycle leaves them; the daily rows then start on the first of the month --days reaches back to",
};
var earlyRollupsOption = new Option<bool>("--early-rollups")
{
    Description = "Also roll up every closed month that keeps its daily rows (rolled up, not sealed), as the history lifecycle does as soon as a month closes",
};
var seed = new Command("seed", "Replace the users and their history with N users × D days, by binary COPY")
{
    connectionOption, usersOption, daysOption, lastDayOption, rollupMonthsOption, earlyRollupsOption,
};
seed.SetAction(async (parsed, token) =>
{
    var days = parsed.GetValue(daysOption);
    var rollupMonths = parsed.GetValue(rollupMonthsOption);
    var earlyRollups = parsed.GetValue(earlyRollupsOption);
    var lastDay = DateOnly.ParseExact(parsed.GetValue(lastDayOption)!, "yyyy-MM-dd", CultureInfo.InvariantCulture);
    await using var source = NpgsqlDataSource.Create(parsed.GetValue(connectionOption)!);
    var history = new HistoryCopy(source, Console.Error.WriteLine);
    var firstDay = lastDay.AddDays(-(days - 1));
    if (rollupMonths <= 0)
    {
        // Every user ACTIVE, the opening on the first day, so the history ends on the last.
        await history.SeedAsync(parsed.GetValue(usersOption), activePercent: 100, firstDay, days, earlyRollups, token);
        return;
    }
    // Rolled-up months are whole calendar months, so the daily rows after them start on a first of the month, as the
    // lifecycle leaves them (History:KeepDailyMonths counts months, not days); the opening is the first rolled-up month's first day.
    var dailyFrom = new DateOnly(firstDay.Year, firstDay.Month, 1);
    await history.SeedRolledUpAsync(parsed.GetValue(usersOption), activePercent: 100, dailyFrom.AddMonths(-rollupMonths), rollupMonths,
        lastDay.DayNumber - dailyFrom.DayNumber + 1, earlyRollups, token);
});

var baseUrlOption = new Option<string>("--base-url") { Required = true, Description = "The core server, e.g. http://127.0.0.1:5070" };
var intervalOption = new Option<string>("--interval") { DefaultValueFactory = _ => "day", Description = "day, week or month" };
var concurrencyOption = new Option<int>("--concurrency") { DefaultValueFactory = _ => 64, Description = "Requests in flight" };
var fromOption = new Option<string?>("--from") { Description = "The series' first day, YYYY-MM-DD, as wrk asks for it; none: the endpoint's default, 30 days" };
var warm = new Command("warm", "Ask for every user's series once (fills the server's cache); prints the rate and fails on any answer but 200")
{
    baseUrlOption, usersOption, intervalOption, concurrencyOption, fromOption,
};
warm.SetAction((parsed, token) => SeriesClient.WarmAsync(parsed.GetValue(baseUrlOption)!, parsed.GetValue(usersOption),
    parsed.GetValue(intervalOption)!, parsed.GetValue(fromOption), parsed.GetValue(concurrencyOption), Console.Out, token));

var countOption = new Option<int>("--count") { DefaultValueFactory = _ => 10_000, Description = "Users whose ETag the client keeps" };
var outOption = new Option<string>("--out") { Required = true, Description = "Lua file for wrk: a table of {path, etag}" };
var etags = new Command("etags", "Fetch random users' series and write their ETags for the revalidation run; exit 3 when the server sends none")
{
    baseUrlOption, usersOption, intervalOption, fromOption, countOption, outOption,
};
etags.SetAction((parsed, token) => SeriesClient.WriteEtagsAsync(parsed.GetValue(baseUrlOption)!, parsed.GetValue(usersOption),
    parsed.GetValue(intervalOption)!, parsed.GetValue(fromOption), parsed.GetValue(countOption), parsed.GetValue(outOption)!, token));

var userOption = new Option<long>("--user") { Required = true, Description = "The user whose series is explained" };
var beforeOption = new Option<bool>("--before") { Description = "Explain the two statements the endpoint sent before the read path was tuned" };
var explain = new Command("explain", "EXPLAIN ANALYZE the endpoint's series query for one user; prints the database's execution time")
{
    connectionOption, userOption, intervalOption, lastDayOption, fromOption, beforeOption,
};
explain.SetAction((parsed, token) =>
{
    var lastDay = DateOnly.ParseExact(parsed.GetValue(lastDayOption)!, "yyyy-MM-dd", CultureInfo.InvariantCulture);
    // The endpoint's default span when no --from: 30 days ending on the last.
    var firstDay = parsed.GetValue(fromOption) is { } from ? DateOnly.ParseExact(from, "yyyy-MM-dd", CultureInfo.InvariantCulture) : lastDay.AddDays(-29);
    return SeriesQueryExplain.RunAsync(parsed.GetValue(connectionOption)!, parsed.GetValue(userOption),
        parsed.GetValue(intervalOption)!, firstDay, lastDay, parsed.GetValue(beforeOption), Console.Out, token);
});

return await new RootCommand("Read-path bench helpers for bench/read.sh") { seed, warm, etags, explain }.Parse(args).InvokeAsync();
