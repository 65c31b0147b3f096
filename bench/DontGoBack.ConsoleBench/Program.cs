using System.CommandLine;
using System.Globalization;
using DontGoBack.BenchSeed;
using DontGoBack.ConsoleBench;
using Npgsql;

// Numbers read the same on every machine.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var connectionOption = new Option<string>("--connection") { Required = true, Description = "PostgreSQL connection string of the bench database (a superuser's)" };
var lastDayOption = new Option<string>("--last-day") { Required = true, Description = "Newest day of the data, YYYY-MM-DD (today in the batch zone)" };
var usersOption = new Option<int>("--users") { Required = true, Description = "Users seeded (ids 1..N)" };
var historyPercentOption = new Option<int>("--history-percent") { DefaultValueFactory = _ => 10, Description = "Share of users that is ACTIVE and gets the history" };
var historyDaysOption = new Option<int>("--history-days") { DefaultValueFactory = _ => 90, Description = "Days of history of each ACTIVE user, ending on the last day" };
var yearsOption = new Option<int>("--years") { DefaultValueFactory = _ => 10, Description = "Years of daily runs (365 days each)" };
var failuresOption = new Option<int>("--failures") { DefaultValueFactory = _ => 100_000, Description = "Failed users of the run with many failures" };
var actionsOption = new Option<int>("--operator-actions") { DefaultValueFactory = _ => 5_000, Description = "Operator actions over the years" };
var seed = new Command("seed", "Replace the users, their history, the runs, failures and operator actions with the console's large data set")
{
    connectionOption, lastDayOption, usersOption, historyPercentOption, historyDaysOption, yearsOption, failuresOption, actionsOption,
};
seed.SetAction(async (parsed, token) =>
{
    var lastDay = ParseDay(parsed.GetValue(lastDayOption)!);
    var days = parsed.GetValue(historyDaysOption);
    await using var source = NpgsqlDataSource.Create(parsed.GetValue(connectionOption)!);
    // The shared seeder: every user with an opening, the ACTIVE ones with the days up to the last day.
    await new HistoryCopy(source, Console.Error.WriteLine).SeedAsync(parsed.GetValue(usersOption), parsed.GetValue(historyPercentOption),
        lastDay.AddDays(-(days - 1)), days, token);
    await new ConsoleData(source, Console.Error.WriteLine).SeedAsync(lastDay, parsed.GetValue(yearsOption), parsed.GetValue(failuresOption),
        parsed.GetValue(actionsOption), token);
});

var baseUrlOption = new Option<string>("--base-url") { Required = true, Description = "The core server, e.g. http://127.0.0.1:45453" };
var tokenOption = new Option<string>("--admin-token") { Required = true, Description = "InternalAccess:AdminToken of the server" };
var requestsOption = new Option<int>("--requests") { DefaultValueFactory = _ => 200, Description = "Timed requests per variant" };
var warmUpOption = new Option<int>("--warm-up") { DefaultValueFactory = _ => 20, Description = "Untimed requests per variant before them" };
var pagesOption = new Option<string?>("--pages") { Description = "Only the variants whose page name is in this comma-separated list" };
var measure = new Command("measure", "Time each console page variant one request at a time; prints the markdown table")
{
    connectionOption, baseUrlOption, tokenOption, requestsOption, warmUpOption, pagesOption,
};
measure.SetAction(async (parsed, token) =>
{
    await using var source = NpgsqlDataSource.Create(parsed.GetValue(connectionOption)!);
    var seeded = await new ConsoleData(source, Console.Error.WriteLine).FindAsync(token);
    var requests = ConsolePages.Variants(seeded);
    if (parsed.GetValue(pagesOption) is { Length: > 0 } pages)
        requests = requests.Where(r => pages.Split(',').Contains(r.Page, StringComparer.OrdinalIgnoreCase)).ToList();
    var times = await new PageTimer(parsed.GetValue(baseUrlOption)!, parsed.GetValue(tokenOption)!, Console.Error.WriteLine)
        .TimeAsync(requests, parsed.GetValue(warmUpOption), parsed.GetValue(requestsOption), token);
    ConsolePages.WriteTable(times, Console.Out);
    return 0;
});

return await new RootCommand("Console bench helpers for bench/console.sh") { seed, measure }.Parse(args).InvokeAsync();

static DateOnly ParseDay(string text) => DateOnly.ParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture);
