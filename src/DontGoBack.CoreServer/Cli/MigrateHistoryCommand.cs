using System.CommandLine;
using System.Globalization;
using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Hosting;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// `migrate-history [--batch-size N]`: moves a PostgreSQL database's history from the plain tables to monthly partitions
/// while the server runs (<see cref="HistoryLayoutMigration"/>); run again, it goes on from where it stopped. Exit 0 when
/// the history is partitioned and nothing else is left, 1 when the plain tables were kept because they differ, 3 when the
/// database failed the step.
/// </summary>
public sealed class MigrateHistoryCommand(CoreServerStartup startup, IServiceScopeFactory scopes, CommandConsole console, TimeProvider time)
    : ICoreCommand, IDeclaredCommand
{
    public const int PlainTablesKeptExitCode = 1;
    public const int FailedExitCode = 3;

    /// <summary>How often a copy under way says how far it got.</summary>
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(5);

    public static Command Declare(CommandChecks? checks) =>
        new("migrate-history", "Move PostgreSQL's history from the plain tables to monthly partitions while the server runs; run again, it goes on where it stopped")
        {
            CommandChecks.AtLeast(new Option<int>("--batch-size")
            {
                Description = "Rows copied per transaction",
                DefaultValueFactory = _ => HistoryLayoutMigration.DefaultBatchSize,
            }, 1, "--batch-size must be at least 1."),
        };

    public async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var output = parsed.InvocationConfiguration.Output;
        try
        {
            await startup.PrepareAsync(seed: false, cancellationToken);
            await using var scope = scopes.CreateAsyncScope();
            var migration = scope.ServiceProvider.GetRequiredService<HistoryLayoutMigration>();
            switch (await migration.StageAsync(cancellationToken))
            {
                case HistoryMigrationStage.NotApplicable:
                    await output.WriteLineAsync("nothing to migrate: SQLite keeps one table each for the history, and its months go by batched deletes");
                    return 0;
                case HistoryMigrationStage.Partitioned:
                    await output.WriteLineAsync("nothing to migrate: the history is partitioned by month already");
                    return 0;
            }
            var outcome = await migration.RunAsync(parsed.GetValue<int>("--batch-size"), new CopyLines(console, time), cancellationToken);
            if (outcome is null)
                return 0;
            if (!outcome.PlainTablesDropped)
            {
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"partitioned by month, but the plain tables are kept: {outcome.Missing} of their rows are not in the partitioned tables and {outcome.Extra} rows there are not in them; "
                    + $"check {HistoryLayoutMigration.Plain(HistoryPartitions.SnapshotTable)} and {HistoryLayoutMigration.Plain(HistoryPartitions.ChangeTable)}, then drop them by hand"));
                return PlainTablesKeptExitCode;
            }
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"partitioned by month: {outcome.Snapshots:N0} snapshots and {outcome.Changes:N0} change rows, the plain tables compared key by key and dropped"));
            return 0;
        }
        catch (Exception e) when (DatabaseFaults.IsDatabaseFault(e) || e is InvalidOperationException)
        {
            // A stopped step leaves a state the next run goes on from; the command says what stopped it in one line.
            await Console.Error.WriteLineAsync($"migrate-history failed: {(DatabaseFaults.IsDatabaseFault(e) ? DatabaseFaults.Describe(e) : e.Message)} (run it again to go on from where it stopped)");
            return FailedExitCode;
        }
    }

    /// <summary>One line on standard error per table copied and every few seconds between, unless --quiet.</summary>
    private sealed class CopyLines(CommandConsole console, TimeProvider time) : IProgress<HistoryCopyProgress>
    {
        private DateTimeOffset _said = DateTimeOffset.MinValue;

        public void Report(HistoryCopyProgress value)
        {
            var now = time.GetUtcNow();
            if (console.Quiet || (now - _said < ProgressEvery && value.CopiedThroughId < value.UpperId))
                return;
            _said = now;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{value.Table}: {value.RowsCopied:N0} rows copied, through id {value.CopiedThroughId:N0} of {value.UpperId:N0}"));
        }
    }
}
