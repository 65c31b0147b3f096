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
var seed = new Command("seed", "Replace the users and their history with N users × D days, by binary COPY")
{
    connectionOption, usersOption, daysOption, lastDayOption,
};
seed.SetAction(async (parsed, token) =>
{
    var days = parsed.GetValue(daysOption);
    var lastDay = DateOnly.ParseExact(parsed.GetValue(lastDayOption)!, "yyyy-MM-dd", CultureInfo.InvariantCulture);
    await using var source = NpgsqlDataSource.Create(parsed.GetValue(connectionOption)!);
    // Every user ACTIVE, the opening on the first day, so the history ends on the last.
    await new HistoryCopy(source, Console.Error.WriteLine).SeedAsync(parsed.GetValue(usersOption), activePercent: 100,
        lastDay.AddDays(-(days - 1)), days, token);
});

var baseUrlOption = new Option<string>("--base-url") { Required = true, Description = "The core server, e.g. http://127.0.0.1:5070" };
var intervalOption = new Option<string>("--interval") { DefaultValueFactory = _ => "day", Description = "day, week or month" };
var concurrencyOption = new Option<int>("--concurrency") { DefaultValueFactory = _ => 64, Description = "Requests in flight" };
var warm = new Command("warm", "Ask for every user's series once (fills the server's cache); prints the rate and fails on any answer but 200")
{
    baseUrlOption, usersOption, intervalOption, concurrencyOption,
};
warm.SetAction((parsed, token) => SeriesClient.WarmAsync(parsed.GetValue(baseUrlOption)!, parsed.GetValue(usersOption),
    parsed.GetValue(intervalOption)!, parsed.GetValue(concurrencyOption), Console.Out, token));

var countOption = new Option<int>("--count") { DefaultValueFactory = _ => 10_000, Description = "Users whose ETag the client keeps" };
var outOption = new Option<string>("--out") { Required = true, Description = "Lua file for wrk: a table of {path, etag}" };
var etags = new Command("etags", "Fetch random users' series and write their ETags for the revalidation run; exit 3 when the server sends none")
{
    baseUrlOption, usersOption, intervalOption, countOption, outOption,
};
etags.SetAction((parsed, token) => SeriesClient.WriteEtagsAsync(parsed.GetValue(baseUrlOption)!, parsed.GetValue(usersOption),
    parsed.GetValue(intervalOption)!, parsed.GetValue(countOption), parsed.GetValue(outOption)!, token));

var userOption = new Option<long>("--user") { Required = true, Description = "The user whose series is explained" };
var beforeOption = new Option<bool>("--before") { Description = "Explain the two statements the endpoint sent before the read path was tuned" };
var explain = new Command("explain", "EXPLAIN ANALYZE the endpoint's series query for one user; prints the database's execution time")
{
    connectionOption, userOption, intervalOption, lastDayOption, beforeOption,
};
explain.SetAction((parsed, token) => SeriesQueryExplain.RunAsync(parsed.GetValue(connectionOption)!, parsed.GetValue(userOption),
    parsed.GetValue(intervalOption)!, DateOnly.ParseExact(parsed.GetValue(lastDayOption)!, "yyyy-MM-dd", CultureInfo.InvariantCulture),
    parsed.GetValue(beforeOption), Console.Out, token));

return await new RootCommand("Read-path bench helpers for bench/read.sh") { seed, warm, etags, explain }.Parse(args).InvokeAsync();
