using System.CommandLine;
using System.Text.Json;
using DontGoBack.CoreServer.Cli;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Cluster;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class CommandLineTests
{
    [Theory]
    [InlineData("")]
    [InlineData("--urls http://0.0.0.0:5070")]
    [InlineData("--urls=http://0.0.0.0:5070 --environment Staging")]
    [InlineData("--AssetRefresh:Enabled=false --contentRoot /srv/core")]
    [InlineData("--Logging:LogLevel:Default Debug")]
    public void Only_configuration_switches_start_the_server(string commandLine)
    {
        Assert.Null(ServerArguments.FirstMistake(Split(commandLine)));
        Assert.Null(CoreCommandLine.Read(Split(commandLine)).ExitCode);
        Assert.False(CoreCommandLine.Read(Split(commandLine)).IsCommand);
    }

    [Theory]
    [InlineData("--help", "--help")]
    [InlineData("--urls http://x --help", "--help")]
    [InlineData("--urls --help", "--urls")]
    [InlineData("--version", "--version")]
    [InlineData("help", "help")]
    [InlineData("refresh", "refresh")]
    [InlineData("--urls", "--urls")]
    [InlineData("--urls http://x nope", "nope")]
    [InlineData("-x 1", "-x")]
    [InlineData("--=1", "--=1")]
    [InlineData("--1a=1", "--1a=1")]
    public void Anything_else_is_not_a_reason_to_start_the_server(string commandLine, string mistake) =>
        Assert.Equal(mistake, ServerArguments.FirstMistake(Split(commandLine)));

    [Theory]
    [InlineData("refresh --json")]
    [InlineData("retry-failed --day 2025-08-10")]
    [InlineData("runs --job asset-refresh-subset")]
    [InlineData("runs --json")]
    [InlineData("seed --users 5 --json")]
    [InlineData("backfill --days 2 --json")]
    [InlineData("retry-failed --day 2025-08-10 --json --quiet")]
    public void A_known_command_is_run_after_the_host_is_built(string commandLine)
    {
        var request = CoreCommandLine.Read(Split(commandLine));
        Assert.True(request.IsCommand);
        Assert.Null(request.ExitCode);
    }

    [Theory]
    [InlineData("refresh --quiet", true)]
    [InlineData("seed --users 5 -q", true)]
    [InlineData("backfill --days 2 --quiet --json", true)]
    [InlineData("refresh --json", false)]
    [InlineData("runs", false)]
    public void Quiet_is_read_before_the_host_is_built_so_the_log_can_be_quieted(string commandLine, bool quiet) =>
        Assert.Equal(quiet, CoreCommandLine.Read(Split(commandLine)).Quiet);

    [Theory]
    [InlineData("refresh --day 2025-13-01")]
    [InlineData("runs --from 10/08/2025")]
    [InlineData("seed --users 0")]
    [InlineData("seed --users 5 --active-percent 101")]
    [InlineData("verify --limit -1")]
    [InlineData("backfill --days 2 --users 5-1")]
    [InlineData("seed --users abc")]
    [InlineData("seed --users 5 --active-percent x")]
    [InlineData("verify --limit many")]
    [InlineData("runs --job")]
    public void A_value_of_the_wrong_form_is_answered_with_exit_2_before_the_host_is_built(string commandLine)
    {
        var request = CoreCommandLine.Read(Split(commandLine));
        Assert.False(request.IsCommand);
        Assert.Equal(CoreCommandLine.UsageError, request.ExitCode);
    }

    [Fact]
    public void Help_lists_every_declared_command()
    {
        var root = CoreCommandLine.Declare(checks: null);
        Assert.Equal(CoreCommandLine.Commands.Select(c => c.Name), root.Subcommands.Select(c => c.Name));
        Assert.Equal(["refresh", "seed", "backfill", "runs", "run", "retry-failed", "verify", "migrate-history"], CoreCommandLine.Commands.Select(c => c.Name));
    }

    [Theory]
    [InlineData("runs", "asset-refresh, asset-refresh-subset, history-maintenance, user-dormancy")]
    [InlineData("retry-failed", "asset-refresh, history-maintenance, user-dormancy")]
    [InlineData("run", "asset-refresh, history-maintenance, user-dormancy")]
    [InlineData("backfill", "asset-refresh, history-maintenance, user-dormancy")]
    [InlineData("", "asset-refresh, history-maintenance, user-dormancy")]
    public void Help_of_a_command_with_a_job_lists_the_jobs(string command, string jobs)
    {
        var output = new StringWriter();

        string[] args = command.Length == 0 ? ["--help"] : [command, "--help"];
        var exitCode = CoreCommandLine.Declare(checks: null).Parse(args).Invoke(new InvocationConfiguration { Output = output });

        Assert.Equal(0, exitCode);
        Assert.Contains($"one of {jobs}", output.ToString());
        Assert.DoesNotContain("README", output.ToString());
    }

    [Fact]
    public async Task The_jobs_help_lists_are_the_jobs_the_server_registers()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = new CoreServerApp(database);

        var registered = app.Services.GetRequiredService<BatchJobs>();
        // Help cannot know the order Program.cs registers in: it lists the default job first, then by name.
        var inHelpOrder = registered.All.Select(j => j.Definition)
            .OrderBy(j => j.Name != CoreCommandLine.DefaultJob.Name).ThenBy(j => j.Name, StringComparer.Ordinal).ToList();

        Assert.Equal(inHelpOrder.Select(j => j.Name), CoreCommandLine.Jobs.Select(j => j.Name));
        Assert.Equal(inHelpOrder.SelectMany(j => j.RunNames), CoreCommandLine.Jobs.SelectMany(j => j.RunNames));
        Assert.Contains(CoreCommandLine.DefaultJob.Name, registered.Names);
        Assert.Equal(CoreCommandLine.DefaultJob.Name, CoreCommandLine.Jobs[0].Name);
    }

    [Fact]
    public void A_job_class_declared_in_the_assembly_is_found_without_a_line_in_the_cli()
    {
        // This assembly declares jobs of its own below, as a new Batch/<Name>/ folder would in the server's.
        var found = CoreCommandLine.JobsDeclaredIn(typeof(CommandLineTests).Assembly);

        Assert.Equal(["a-declared-job", "z-declared-job"], found.Select(j => j.Name));
        Assert.Same(DeclaredJob.Definition, found[0]);
        Assert.Equal(["z-declared-job", "z-declared-job-subset"], found[1].RunNames);
    }

    /// <summary>A job as a new batch declares it: its class alone, found by the CLI without being listed.</summary>
    private sealed class DeclaredJob : IDailyJob
    {
        public static readonly DailyJobDefinition Definition = new("a-declared-job", "Declared job", "DeclaredJob", "items");

        public IQueryable<long> WorkIds(DateOnly day) => Enumerable.Empty<long>().AsQueryable();

        public Task<BatchOutcome> RunAsync(DateOnly day, IdRange range, RunProgress progress, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }

    /// <summary>One stating its definition as a property, with a subset, declared after the first but named after it.</summary>
    private sealed class LaterDeclaredJob : IDailyJob
    {
        public static DailyJobDefinition Definition { get; } = new("z-declared-job", "Later job", "LaterJob", "items", "z-declared-job-subset");

        public IQueryable<long> WorkIds(DateOnly day) => Enumerable.Empty<long>().AsQueryable();

        public Task<BatchOutcome> RunAsync(DateOnly day, IdRange range, RunProgress progress, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }

    /// <summary>A definition on a class that is no job: not a job to list.</summary>
    private static class NotAJob
    {
        public static readonly DailyJobDefinition Definition = new("not-a-job", "Not a job", "NotAJob", "items");
    }

    [Theory]
    [InlineData("refrsh", "refresh")]
    [InlineData("Refresh", "refresh")]
    [InlineData("retry", "retry-failed")]
    [InlineData("rnus", "runs")]
    [InlineData("verfy", "verify")]
    [InlineData("bakfil", "backfill")]
    [InlineData("hlp", "help")]
    [InlineData("nope", null)]
    [InlineData("serve", null)]
    public void An_unknown_command_is_matched_to_the_nearest_within_two_edits_or_by_its_start(string word, string? nearest) =>
        Assert.Equal(nearest, CoreCommandLine.NearestCommand(word));

    [Fact]
    public void Every_status_is_spelled_as_its_json()
    {
        foreach (var status in Enum.GetValues<BatchRunStatus>())
            Assert.Equal(JsonSerializer.Serialize(status), $"\"{status.ToText()}\"");
        Assert.Equal("completed_with_failures", BatchRunStatus.CompletedWithFailures.ToText());
    }

    private static string[] Split(string commandLine) => commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
