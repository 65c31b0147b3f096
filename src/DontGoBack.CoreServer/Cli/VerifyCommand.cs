using System.CommandLine;
using System.Diagnostics;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Hosting;

namespace DontGoBack.CoreServer.Cli;

/// <summary>`verify [--from D] [--to D] [--limit N]`: the chain rule over every user's history; exit 1 when anything breaks it.</summary>
public sealed class VerifyCommand(CoreServerStartup startup, IServiceScopeFactory scopes) : ICoreCommand, IDeclaredCommand
{
    public static Command Declare(CommandChecks? checks) =>
        new("verify", "Check every user's history adds up (the chain rule); exit 1 when anything breaks it")
        {
            CommandChecks.DayOption("--from", "First day YYYY-MM-DD", checks),
            CommandChecks.DayOption("--to", "Last day YYYY-MM-DD", checks),
            CommandChecks.AtLeast(new Option<int>("--limit") { Description = "Breaks to print at most (all are counted)", DefaultValueFactory = _ => 100 },
                0, "--limit must not be negative."),
        };

    public async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var output = parsed.InvocationConfiguration.Output;
        await startup.PrepareAsync(seed: false, cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var started = Stopwatch.GetTimestamp();
        var check = await scope.ServiceProvider.GetRequiredService<AssetChainVerifier>().CheckAsync(
            parsed.GetValue<DateOnly?>("--from") ?? DateOnly.MinValue, parsed.GetValue<DateOnly?>("--to") ?? DateOnly.MaxValue,
            parsed.GetValue<int>("--limit"), cancellationToken);
        if (check.Total > 0)
        {
            await output.WriteLineAsync("| user | day | rule | expected | found |");
            await output.WriteLineAsync("|---|---|---|---|---|");
            foreach (var found in check.First)
                await output.WriteLineAsync($"| {found.UserId} | {found.SnapshotDay:yyyy-MM-dd} | {found.Rule} | {found.Expected} | {found.Found} |");
        }
        await output.WriteLineAsync(
            $"{check.Total} breaks of the chain rule{(check.Total > check.First.Count ? $" ({check.First.Count} shown)" : "")}, " +
            $"checked in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");
        return check.Total > 0 ? 1 : 0;
    }
}
