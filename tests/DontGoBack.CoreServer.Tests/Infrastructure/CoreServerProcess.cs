using System.Diagnostics;
using System.Text;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// The core server as a real process of its own (serve mode), for what in-process hosts cannot
/// show: several replicas on one database, and a kill -9 in the middle of a run.
/// </summary>
public sealed class CoreServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private CoreServerProcess(Process process) => _process = process;

    public string Output { get { lock (_output) return _output.ToString(); } }

    public static CoreServerProcess Start(IDictionary<string, string?> settings)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "DontGoBack.CoreServer.dll");
        var start = new ProcessStartInfo("dotnet", [dll])
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
        node._process.OutputDataReceived += (_, line) => node.Append(line.Data);
        node._process.ErrorDataReceived += (_, line) => node.Append(line.Data);
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

    public async ValueTask DisposeAsync()
    {
        KillHard();
        await Task.CompletedTask;
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }
}
