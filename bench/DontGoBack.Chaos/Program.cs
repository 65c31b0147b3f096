using System.Globalization;
using DontGoBack.Chaos;

// bench/chaos.sh builds the servers and this driver, starts a throwaway PostgreSQL and passes its options on:
//   --seed S --days D --users N --replicas R [--day-seconds W] [--first-day YYYY-MM-DD]
//   --connection CS --postgres-port P --postgres-script PATH --core-dll PATH --simulator-dll PATH --work-dir DIR
// Standard output is the summary (markdown); the timeline and progress go to standard error. Exit 1 when the oracle finds anything.
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i + 1 < args.Length; i += 2)
{
    if (!args[i].StartsWith("--", StringComparison.Ordinal))
    {
        Console.Error.WriteLine($"unexpected argument '{args[i]}'");
        return 2;
    }
    options[args[i][2..]] = args[i + 1];
}
if (args.Length % 2 != 0)
{
    Console.Error.WriteLine($"option '{args[^1]}' has no value");
    return 2;
}

string Required(string name) => options.TryGetValue(name, out var value) ? value
    : throw new ArgumentException($"--{name} is required");
int Number(string name, int fallback, int min, int max)
{
    if (!options.TryGetValue(name, out var text))
        return fallback;
    if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        throw new ArgumentException($"--{name} must be a whole number from {min} to {max}, not '{text}'");
    return value;
}

try
{
    var settings = new CampaignSettings(
        Seed: Number("seed", 1, 0, int.MaxValue),
        Days: Number("days", 3, 1, 366),
        Users: Number("users", 5_000, 10, 10_000_000),
        Replicas: Number("replicas", 3, 1, 16),
        AdminConnection: Required("connection"),
        PostgresPort: Number("postgres-port", 25463, 1, 65_535),
        PostgresScript: Required("postgres-script"),
        CoreDll: Required("core-dll"),
        SimulatorDll: Required("simulator-dll"),
        // Absolute: the stand-in and the replicas are started in their own folders.
        WorkDirectory: Path.GetFullPath(Required("work-dir")),
        DaySeconds: Number("day-seconds", 55, 30, 3_600),
        FirstDay: options.TryGetValue("first-day", out var first)
            ? DateOnly.ParseExact(first, "yyyy-MM-dd", CultureInfo.InvariantCulture)
            : new DateOnly(2027, 3, 1));
    using var stop = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
    return await new Campaign(settings).RunAsync(stop.Token);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
catch (FormatException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
