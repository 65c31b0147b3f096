using System.CommandLine;
using System.Diagnostics;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace DontGoBack.CoreServer.Cli;

/// <summary>`verify [--from D] [--to D] [--limit N]`: the chain rule over every user's history; exit 1 when anything breaks it, 3 when the database failed the check.</summary>
public sealed class VerifyCommand(CoreServerStartup startup, IServiceScopeFactory scopes) : ICoreCommand, IDeclaredCommand
{
    /// <summary>Something breaks the chain rule: the breaks are on standard output.</summary>
    public const int BrokenExitCode = 1;

    /// <summary>The check could not be done (the database failed it): one line on standard error, nothing on standard output.</summary>
    public const int FailedExitCode = 3;

    public static Command Declare(CommandChecks? checks) =>
        new("verify", "Check every user's history adds up (the chain rule); exit 1 when anything breaks it, 3 when the database failed the check")
        {
            CommandChecks.DayOption("--from", "First day YYYY-MM-DD", checks),
            CommandChecks.DayOption("--to", "Last day YYYY-MM-DD", checks),
            CommandChecks.AtLeast(new Option<int>("--limit") { Description = "Breaks to print at most (all are counted)", DefaultValueFactory = _ => 100 },
                0, "--limit must not be negative."),
        };

    public async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var output = parsed.InvocationConfiguration.Output;
        ChainCheck check;
        var started = Stopwatch.GetTimestamp();
        try
        {
            await startup.PrepareAsync(seed: false, cancellationToken);
            await using var scope = scopes.CreateAsyncScope();
            await using var db = QuietAboutFaults(scope.ServiceProvider.GetRequiredService<DontGoBackDbContext>());
            started = Stopwatch.GetTimestamp();
            check = await new AssetChainVerifier(db).CheckAsync(
                parsed.GetValue<DateOnly?>("--from") ?? DateOnly.MinValue, parsed.GetValue<DateOnly?>("--to") ?? DateOnly.MaxValue,
                parsed.GetValue<int>("--limit"), cancellationToken);
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e))
        {
            // The database's own words in one line, as a run records them; nothing on standard output, as nothing was checked to the end.
            await Console.Error.WriteLineAsync($"verify failed: {DatabaseFaults.Describe(e)}");
            return FailedExitCode;
        }
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
        return check.Total > 0 ? BrokenExitCode : 0;
    }

    /// <summary>
    /// The same database, with EF's own logs of a failed connection, statement or query lowered to Debug: they
    /// carry the exception and its stack to the console, where the command says what failed in one line.
    /// </summary>
    private static DontGoBackDbContext QuietAboutFaults(DontGoBackDbContext db)
    {
        static void Quiet(WarningsConfigurationBuilder warnings) => warnings.Log(
            (RelationalEventId.ConnectionError, LogLevel.Debug), (RelationalEventId.CommandError, LogLevel.Debug),
            (CoreEventId.QueryIterationFailed, LogLevel.Debug));
        var options = db.GetService<IDbContextOptions>();
        return db switch
        {
            SqliteDontGoBackDbContext => new SqliteDontGoBackDbContext(
                new DbContextOptionsBuilder<SqliteDontGoBackDbContext>((DbContextOptions<SqliteDontGoBackDbContext>)options).ConfigureWarnings(Quiet).Options),
            PostgresDontGoBackDbContext => new PostgresDontGoBackDbContext(
                new DbContextOptionsBuilder<PostgresDontGoBackDbContext>((DbContextOptions<PostgresDontGoBackDbContext>)options).ConfigureWarnings(Quiet).Options),
            _ => throw new InvalidOperationException($"No quiet copy of {db.GetType().Name}."),
        };
    }
}
