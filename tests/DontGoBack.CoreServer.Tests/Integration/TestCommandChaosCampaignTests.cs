using System.Diagnostics;
using System.Globalization;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// The README's test command, scripts/test.sh, runs the chaos campaign's CI size after the tests (issue 28): seeds 1
/// and 17 through bench/chaos-ci.sh and bench/chaos.sh, one verdict line each, a failed seed failing the command and
/// counted in its last line, and no campaign for a filtered subset. The scripts run for real, from a copy of the
/// checkout's; only what they call outside themselves is a stand-in: `dotnet` (a test run's summary, and a campaign
/// driver whose oracle passes or fails as told) and scripts/postgres.sh (a connection string, no cluster).
/// </summary>
public sealed class TestCommandChaosCampaignTests : IDisposable
{
    private const int TestClusterPort = 41_230;
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("dontgoback-test-command-");

    public TestCommandChaosCampaignTests()
    {
        foreach (var script in new[] { "scripts/test.sh", "bench/chaos.sh", "bench/chaos-ci.sh" })
        {
            var source = Path.Combine(Checkout(), script);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(_root.FullName, script))!);
            // A script that is not there yet (before the campaign was wired in) is left out, for the assertions to say so.
            if (File.Exists(source))
                File.Copy(source, Path.Combine(_root.FullName, script));
        }
        Write("scripts/postgres.sh", """
            #!/usr/bin/env bash
            echo "$1 $2 data=${DONTGOBACK_PG_DATA:-}" >>"$(dirname "$0")/../postgres-calls"
            [ "$1" = start ] && echo "Host=127.0.0.1;Port=$2;Username=postgres;Database=postgres"
            exit 0
            """);
        Write("fake-bin/dotnet", """
            #!/usr/bin/env bash
            echo "$*" >>"$(dirname "$0")/../dotnet-calls"
            case "$1" in
              test)
                echo "  Passed DontGoBack.Fake.Tests.One [1 ms]"
                echo "  Passed DontGoBack.Fake.Tests.Two [1 ms]"
                if [ -n "${FAKE_TEST_FAILS:-}" ]; then
                  echo "  Failed DontGoBack.Fake.Tests.Three [1 ms]"
                  echo "Failed!  - Failed:     1, Passed:     2, Skipped:     0, Total:     3"
                  exit 1
                fi
                echo "  Passed DontGoBack.Fake.Tests.Three [1 ms]"
                echo "Passed!  - Failed:     0, Passed:     3, Skipped:     0, Total:     3"
                exit 0 ;;
              *DontGoBack.Chaos.dll)
                seed=""
                while [ $# -gt 0 ]; do [ "$1" = --seed ] && seed=$2; shift; done
                echo "[   0.1] Campaign seed $seed: 3 days" >&2
                echo "## Chaos campaign: seed $seed"
                if [[ ",${FAKE_FAILING_SEEDS:-}," == *",$seed,"* ]]; then
                  printf '| check | property | found | first findings |\n|---|---|---:|---|\n| snapshots_missing | one snapshot | 1 | user 7 |\n'
                  echo "THE ORACLE FOUND SOMETHING"
                  exit 1
                fi
                echo "The oracle found nothing."
                exit 0 ;;
            esac
            exit 0
            """);
        // The console's browser and its fonts are installed already where the suite runs; never apt from here.
        Write("fake-bin/apt-get", "#!/usr/bin/env bash\nexit 0\n");
    }

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public async Task The_test_command_runs_both_campaign_seeds_after_the_tests_and_counts_them_in_its_last_line()
    {
        var (exit, lines) = await RunTestCommandAsync([], new() { ["DONTGOBACK_PG_DATA"] = "/nonexistent/tests-cluster" });

        Assert.Equal(0, exit);
        Assert.Equal("5 passed, 0 failed", lines[^1]);
        Assert.StartsWith("chaos campaign seed 1: passed, the oracle found nothing", lines[^3]);
        Assert.StartsWith("chaos campaign seed 17: passed, the oracle found nothing", lines[^2]);
        Assert.EndsWith("logs in artifacts/chaos/seed-17", lines[^2]);
        // The CI size, on the tests' Debug build (dotnet test builds the test projects and what they reference, not the
        // campaign's driver: its three projects are built once, in that configuration, after the tests), each seed on its
        // own cluster next to the tests' one.
        var drivers = Calls("dotnet-calls").Where(c => c.Contains("DontGoBack.Chaos.dll", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, drivers.Count);
        Assert.All(drivers, d => Assert.Contains("bench/DontGoBack.Chaos/bin/Debug/net10.0/DontGoBack.Chaos.dll", d));
        Assert.All(drivers, d => Assert.Contains("--days 3 --users 5000 --replicas 3 --day-seconds 30", d));
        var calls = Calls("dotnet-calls").ToList();
        var builds = calls.Where(c => c.StartsWith("build", StringComparison.Ordinal)).ToList();
        Assert.Equal(["src/DontGoBack.CoreServer", "src/DontGoBack.ExtensionSimulator", "bench/DontGoBack.Chaos"],
            builds.Select(b => b.Split(' ')[1]));
        Assert.All(builds, b => Assert.Contains("-c Debug", b));
        Assert.True(calls.FindIndex(c => c.StartsWith("test", StringComparison.Ordinal)) < calls.FindIndex(c => c.StartsWith("build", StringComparison.Ordinal)));
        // The campaigns' clusters never take over the data directory named for the tests' cluster.
        Assert.Equivalent(new[]
        {
            $"start {TestClusterPort} data=/nonexistent/tests-cluster",
            $"start {TestClusterPort + 1} data=", $"stop {TestClusterPort + 1} data=",
            $"start {TestClusterPort + 2} data=", $"stop {TestClusterPort + 2} data=",
            $"stop {TestClusterPort} data=/nonexistent/tests-cluster",
        }, Calls("postgres-calls"));
        Assert.Contains("The oracle found nothing.", await File.ReadAllTextAsync(Path.Combine(_root.FullName, "artifacts/chaos/seed-1/summary.md")));
    }

    [Fact]
    public async Task A_seed_the_oracle_fails_fails_the_test_command_with_its_table_and_its_line()
    {
        var (exit, lines) = await RunTestCommandAsync([], new() { ["FAKE_FAILING_SEEDS"] = "17" });

        Assert.NotEqual(0, exit);
        Assert.Equal("4 passed, 1 failed", lines[^1]);
        Assert.StartsWith("chaos campaign seed 1: passed", lines[^3]);
        Assert.StartsWith("chaos campaign seed 17: FAILED, the oracle found something (exit 1", lines[^2]);
        Assert.EndsWith("see summary.md in artifacts/chaos/seed-17", lines[^2]);
        Assert.Contains("| snapshots_missing | one snapshot | 1 | user 7 |", lines);
    }

    [Fact]
    public async Task Failed_tests_fail_the_test_command_though_the_campaign_passes()
    {
        var (exit, lines) = await RunTestCommandAsync([], new() { ["FAKE_TEST_FAILS"] = "1" });

        Assert.Equal(1, exit);
        Assert.Equal("4 passed, 1 failed", lines[^1]);
        Assert.StartsWith("chaos campaign seed 17: passed", lines[^2]);
    }

    [Theory]
    [InlineData("--filter", "FullyQualifiedName~ConsoleTests", null)]
    [InlineData("--filter=Category!=Cluster", null, null)]
    [InlineData(null, null, "0")]
    public async Task A_filtered_run_or_DONTGOBACK_TEST_CHAOS_0_leaves_the_campaign_out(string? option, string? value, string? chaos)
    {
        var (exit, lines) = await RunTestCommandAsync(
            new[] { option, value }.OfType<string>().ToArray(),
            chaos is null ? [] : new() { ["DONTGOBACK_TEST_CHAOS"] = chaos });

        Assert.Equal(0, exit);
        Assert.Equal("3 passed, 0 failed", lines[^1]);
        Assert.DoesNotContain(lines, l => l.Contains("chaos", StringComparison.OrdinalIgnoreCase));
        Assert.Single(Calls("dotnet-calls"));
        Assert.Equal([$"start {TestClusterPort} data=", $"stop {TestClusterPort} data="], Calls("postgres-calls"));
    }

    [Fact]
    public async Task A_DONTGOBACK_TEST_CHAOS_that_is_neither_0_nor_1_stops_the_command_with_one_line()
    {
        var (exit, lines) = await RunTestCommandAsync([], new() { ["DONTGOBACK_TEST_CHAOS"] = "yes" });

        Assert.Equal(2, exit);
        Assert.Equal(["DONTGOBACK_TEST_CHAOS must be 1 (run the chaos campaign after the tests) or 0 (leave it out), not 'yes'"], lines);
        Assert.Empty(Calls("dotnet-calls"));
    }

    private async Task<(int Exit, string[] Lines)> RunTestCommandAsync(string[] arguments, Dictionary<string, string> environment)
    {
        // One stream, in order, as a terminal or CI shows it (the verdicts and the last line are on standard output).
        var start = new ProcessStartInfo("bash", ["-c", "exec bash \"$0\" \"$@\" 2>&1", Path.Combine(_root.FullName, "scripts/test.sh"), .. arguments])
        {
            RedirectStandardOutput = true,
            WorkingDirectory = _root.FullName,
        };
        // Nothing of the suite's own run leaks in: its cluster, its data directory, a campaign setting.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("DONTGOBACK_", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(name);
        start.Environment["PATH"] = $"{Path.Combine(_root.FullName, "fake-bin")}:{Environment.GetEnvironmentVariable("PATH")}";
        start.Environment["DONTGOBACK_PG_PORT"] = TestClusterPort.ToString(CultureInfo.InvariantCulture);
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"scripts/test.sh did not end within 60 s; it printed:\n{await output}");
        }
        return (process.ExitCode, (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private string[] Calls(string file)
    {
        var path = Path.Combine(_root.FullName, file);
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }

    private void Write(string relative, string text)
    {
        var path = Path.Combine(_root.FullName, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text.ReplaceLineEndings("\n") + "\n");
        // The scripts run one another, and `dotnet`, by name: they must be executable (the suite runs where bash does).
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>The checkout the tests were built from: where scripts/test.sh is.</summary>
    private static string Checkout()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "scripts", "test.sh")))
                return directory.FullName;
        }
        throw new FileNotFoundException($"scripts/test.sh not found above {AppContext.BaseDirectory}");
    }
}
