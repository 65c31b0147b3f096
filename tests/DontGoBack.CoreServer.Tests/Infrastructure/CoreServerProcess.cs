using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// The core server as a real process of its own, for what in-process hosts cannot show: several
/// replicas on one database, a kill -9 or a SIGTERM in the middle of a run, and what the CLI
/// prints and exits with.
/// </summary>
public sealed class CoreServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<string> _standardOutput = [];
    private readonly List<string> _standardError = [];

    private CoreServerProcess(Process process) => _process = process;

    /// <summary>Standard output and standard error, interleaved as they arrived.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    public IReadOnlyList<string> StandardOutput { get { lock (_output) return _standardOutput.ToList(); } }

    public IReadOnlyList<string> StandardError { get { lock (_output) return _standardError.ToList(); } }

    /// <param name="settings">Configuration, passed as environment variables.</param>
    /// <param name="arguments">A CLI command and its options; none starts the server.</param>
    /// <param name="workingDirectory">Where relative paths (the default SQLite file) land; default the test's own folder.</param>
    public static CoreServerProcess Start(
        IDictionary<string, string?> settings, IReadOnlyList<string>? arguments = null, string? workingDirectory = null) =>
        Start(new ProcessStartInfo("dotnet", [Dll, .. arguments ?? []]), settings, workingDirectory);

    private static string Dll => Path.Combine(AppContext.BaseDirectory, "DontGoBack.CoreServer.dll");

    /// <summary>
    /// A CLI command on a terminal of its own, as an operator runs it: a pseudo-terminal that
    /// `script` (util-linux) opens, 120 columns wide, with <paramref name="term"/> as TERM. Standard
    /// error is the terminal; its bytes as written, control sequences and carriage returns included,
    /// are recorded in <paramref name="typescript"/> (<see cref="Output"/> has them split into lines).
    /// Standard output goes to <paramref name="standardOutputFile"/>, or to the terminal when null.
    /// </summary>
    public static CoreServerProcess StartOnTerminal(
        IDictionary<string, string?> settings, IReadOnlyList<string> arguments, string workingDirectory, string typescript, string? standardOutputFile,
        string term = "xterm-256color")
    {
        const string script = "/usr/bin/script";
        Assert.True(File.Exists(script), $"{script} (util-linux) is needed to run a command on a pseudo-terminal");
        var command = string.Join(' ', ["stty cols 120 rows 40;", "exec dotnet", Quoted(Dll), .. arguments.Select(Quoted)]) +
                      (standardOutputFile is null ? "" : $" > {Quoted(standardOutputFile)}");
        // -q: no banner; -f: each write as it happens; -e: its exit code is the command's. Standard input stays open, never written.
        var start = new ProcessStartInfo(script, ["-qfec", command, typescript]) { RedirectStandardInput = true };
        start.Environment["TERM"] = term;
        return Start(start, settings, workingDirectory);
    }

    private static string Quoted(string word) => $"'{word.Replace("'", "'\\''", StringComparison.Ordinal)}'";

    private static CoreServerProcess Start(ProcessStartInfo start, IDictionary<string, string?> settings, string? workingDirectory)
    {
        RestoreSigIntForChildren();
        start.WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.Environment["Urls"] = "http://127.0.0.1:0";
        start.Environment["DemoData__UsersOnEmptyDatabase"] = "0";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__DontGoBack"] = "Information";
        foreach (var (key, value) in settings)
            start.Environment[key.Replace(":", "__")] = value;
        var node = new CoreServerProcess(Process.Start(start)!);
        node._process.OutputDataReceived += (_, line) => node.Append(line.Data, node._standardOutput);
        node._process.ErrorDataReceived += (_, line) => node.Append(line.Data, node._standardError);
        node._process.BeginOutputReadLine();
        node._process.BeginErrorReadLine();
        return node;
    }

    /// <summary>Runs a CLI command to its end.</summary>
    public static async Task<CoreServerProcess> RunAsync(
        IDictionary<string, string?> settings, IReadOnlyList<string> arguments, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var process = Start(settings, arguments, workingDirectory);
        try
        {
            await process.WaitForExitAsync(timeout ?? TimeSpan.FromSeconds(60));
        }
        catch
        {
            // The test fails and never sees the process: it must not outlive it (a server that started
            // when it should have refused its settings would otherwise run on, orphaned, after the suite).
            await process.DisposeAsync();
            throw;
        }
        return process;
    }

    /// <summary>Waits for the process to end, failing the test when it does not in time; all output is read by then.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the process did not exit within {timeout}; output:\n{Output}");
        }
        return _process.ExitCode;
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>True once the process has ended.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Sends a signal as `kill -SIGNAL pid` does, e.g. SIGTERM (15) as a service manager stops a process.</summary>
    public void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public const int SigInt = 2;
    public const int SigTerm = 15;

    /// <summary>SIGKILL: no shutdown code runs, exactly as when a machine dies.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        KillHard();
        await Task.CompletedTask;
        _process.Dispose();
    }

    private void Append(string? line, List<string> stream)
    {
        if (line is null)
            return;
        lock (_output)
        {
            _output.AppendLine(line);
            stream.Add(line);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>
    /// A suite started in the background without job control (<c>scripts/test.sh &amp;</c>, nohup) has SIGINT ignored, and
    /// a child inherits an ignored signal: .NET then leaves it ignored, so a command could never see the Ctrl+C the
    /// tests send it. The default is put back in this process, once, before the first child starts.
    /// </summary>
    private static void RestoreSigIntForChildren()
    {
        if (Interlocked.Exchange(ref _sigIntChecked, 1) == 1 || !OperatingSystem.IsLinux())
            return;
        var ignored = File.ReadLines("/proc/self/status").FirstOrDefault(line => line.StartsWith("SigIgn:", StringComparison.Ordinal));
        if (ignored is not null && (Convert.ToUInt64(ignored["SigIgn:".Length..].Trim(), 16) & (1UL << (SigInt - 1))) != 0)
            signal(SigInt, IntPtr.Zero); // SIG_DFL
    }

    private static int _sigIntChecked;

    [DllImport("libc")]
    private static extern IntPtr signal(int signum, IntPtr handler);
}
