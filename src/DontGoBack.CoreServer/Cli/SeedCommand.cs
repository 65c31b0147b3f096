using System.CommandLine;
using System.Text.Json;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.Batch.Runs;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Cli;

/// <summary>`seed --users N [--active-percent P]`: adds demo users, each with an opening snapshot yesterday.</summary>
public sealed class SeedCommand(
    CoreServerStartup startup, IServiceScopeFactory scopes, IOptions<DemoDataOptions> demo, CommandProgress progress, CommandConsole console,
    TerminationSignals signals) : ICoreCommand, IDeclaredCommand
{
    /// <summary>Users added per transaction: each chunk is written and counted before the next, so a large seed shows its progress.</summary>
    public const int ChunkSize = 10_000;

    public static Command Declare(CommandChecks? checks)
    {
        var activeOption = new Option<int?>("--active-percent") { Description = "Share of ACTIVE users; default DemoData:ActivePercent (85)" };
        OptionChecks.Check(activeOption, (result, percent) =>
        {
            if (percent is < 0 or > 100)
                result.AddError("--active-percent must be between 0 and 100.");
        });
        return new Command("seed", "Add demo users, each with an opening snapshot yesterday")
        {
            CommandChecks.AtLeast(new Option<int>("--users") { Description = "How many demo users to add", Required = true }, 1,
                "--users must be a positive number."),
            activeOption, CoreCommandLine.JsonOption(), CoreCommandLine.QuietOption(),
        };
    }

    public async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var output = parsed.InvocationConfiguration.Output;
        var json = parsed.GetValue<bool>("--json");
        var users = parsed.GetValue<int>("--users");
        await startup.PrepareAsync(seed: false, cancellationToken);
        await startup.EnsureWritableAsync(cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var seeder = scope.ServiceProvider.GetRequiredService<DemoDataSeeder>();
        var percent = parsed.GetValue<int?>("--active-percent") ?? demo.Value.ActivePercent;
        var (added, firstId, lastId) = (0, 0L, 0L);
        var status = BatchRunStatus.Completed;
        try
        {
            await progress.ShowAsync("Seed", async watch =>
            {
                var written = new RunProgress();
                written.Expect(users);
                watch.Follow(written);
                while (added < users)
                {
                    var chunk = Math.Min(ChunkSize, users - added);
                    var (first, last) = await seeder.AddUsersAsync(chunk, percent, cancellationToken);
                    (firstId, lastId, added) = (added == 0 ? first : firstId, last, added + chunk);
                    written.Done(success: chunk);
                }
                return added;
            });
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The chunks written stay (each was its own transaction); the result says how many.
            status = BatchRunStatus.Aborted;
        }

        if (ResultLines.ForPeople(json, console, output) is { } people)
        {
            await people.WriteLineAsync(added == 0
                ? $"Added no demo users{(status == BatchRunStatus.Aborted ? $": stopped by {signals.Received}" : "")}."
                : $"Added {added} {(added < users ? $"of {users} " : "")}demo users (ids {firstId}–{lastId}), {percent}% of them ACTIVE" +
                  $"{(status == BatchRunStatus.Aborted ? $"; stopped by {signals.Received}" : "")}.");
        }
        if (json)
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(
                new SeedResult(status, users, added, added > 0 ? firstId : null, added > 0 ? lastId : null, percent), JsonSerializerOptions.Web));
        }
        return status == BatchRunStatus.Aborted ? signals.ExitCode ?? 1 : 0;
    }
}

/// <summary>What `seed --json` prints: the users asked for and added (fewer when a signal stopped it), and their ids.</summary>
public sealed record SeedResult(BatchRunStatus Status, int Requested, int Added, long? FirstId, long? LastId, int ActivePercent);
