using System.CommandLine;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Hosting;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Cli;

/// <summary>`seed --users N [--active-percent P]`: adds demo users, each with an opening snapshot yesterday.</summary>
public sealed class SeedCommand(CoreServerStartup startup, IServiceScopeFactory scopes, IOptions<DemoDataOptions> demo) : ICoreCommand, IDeclaredCommand
{
    public static Command Declare(CommandChecks? checks)
    {
        var activeOption = new Option<int?>("--active-percent") { Description = "Share of ACTIVE users; default DemoData:ActivePercent (85)" };
        activeOption.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 0 or > 100)
                result.AddError("--active-percent must be between 0 and 100.");
        });
        return new Command("seed", "Add demo users, each with an opening snapshot yesterday")
        {
            CommandChecks.AtLeast(new Option<int>("--users") { Description = "How many demo users to add", Required = true }, 1,
                "--users must be a positive number."),
            activeOption,
        };
    }

    public async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var users = parsed.GetValue<int>("--users");
        await startup.PrepareAsync(seed: false, cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var percent = parsed.GetValue<int?>("--active-percent") ?? demo.Value.ActivePercent;
        var (firstId, lastId) = await scope.ServiceProvider.GetRequiredService<DemoDataSeeder>().AddUsersAsync(users, percent, cancellationToken);
        await parsed.InvocationConfiguration.Output.WriteLineAsync($"Added {users} demo users (ids {firstId}–{lastId}), {percent}% of them ACTIVE.");
        return 0;
    }
}
