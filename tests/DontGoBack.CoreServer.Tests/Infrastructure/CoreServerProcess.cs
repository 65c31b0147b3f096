using System.Diagnostics;
using System.Text;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// The core server as a real process of its own, for what in-process hosts cannot show: several
/// replicas on one database, a kill -9 in the middle of a run, a CLI command's output and exit code.
/// </summary>
public sealed class CoreServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _standardOutput = new();

    private CoreServerProcess(Process process) => _process = process;

    /// <summary>Standard output and standard error, interleaved.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>Standard output alone (a CLI command's result).</summary>
    public string StandardOutput { get { lock (_output) return _standardOutput.ToString(); } }

    /// <param name="command">A CLI command and its arguments; none serves HTTP.</param>
    public static CoreServerProcess Start(IDictionary<string, string?> settings, params string[] command)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "DontGoBack.CoreServer.dll");
        var start = new ProcessStartInfo("dotnet", [dll, .. command])
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["Urls"] = "http://127.0.0.1:0";
        start.Environment["DemoData__UsersOnEmptyDatabase"] = "0";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__DontGoBack"] = "Information";
        foreach (var (key, value) in settings)
            start.Environment[key.Replace(":", "__")] = value;
        var node = new CoreServerProcess(Process.Start(start)!);
        node._process.OutputDataReceived += (_, line) => node.Append(line.Data, standardOutput: true);
        node._process.ErrorDataReceived += (_, line) => node.Append(line.Data, standardOutput: false);
        node._process.BeginOutputReadLine();
        node._process.BeginErrorReadLine();
        return node;
    }

    /// <summary>SIGKILL: no shutdown code runs, exactly as when a machine dies.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <returns>The exit code; fails the test when the process is still running after <paramref name="timeout"/>.</returns>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the process did not exit within {timeout}; output:\n{Output}");
        }
        // The parameterless wait also drains the redirected output.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        KillHard();
        await Task.CompletedTask;
        _process.Dispose();
    }

    private void Append(string? line, bool standardOutput)
    {
        if (line is null)
            return;
        lock (_output)
        {
            _output.AppendLine(line);
            if (standardOutput)
                _standardOutput.AppendLine(line);
        }
    }
}
