using System.Diagnostics;
using System.Runtime.InteropServices;

namespace DontGoBack.Chaos;

/// <summary>`dotnet some.dll …` as a child process with its settings as environment variables; its output goes to a log file.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private bool _disposed;

    private ChildProcess(Process process, StreamWriter log)
    {
        _process = process;
        _log = log;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static ChildProcess Start(string dll, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, string logFile)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // The host reads appsettings.json from its content root, the working directory: the one shipped beside the dll.
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        var log = new StreamWriter(logFile, append: true) { AutoFlush = true };
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, line) => Write(log, line.Data);
        process.ErrorDataReceived += (_, line) => Write(log, line.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ChildProcess(process, log);
    }

    /// <summary>Runs a command to its end; its standard output and error land in the log file.</summary>
    public static async Task<int> RunAsync(
        string dll, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, string logFile, TimeSpan timeout)
    {
        using var child = Start(dll, arguments, environment, logFile);
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await child._process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            child.Kill();
            return -1;
        }
        return child.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown code runs, as when a machine dies.</summary>
    public void Kill()
    {
        if (_disposed)
            return;
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Signal(int signal)
    {
        if (!_disposed && !_process.HasExited)
            _ = kill(_process.Id, signal);
    }

    public const int SigTerm = 15;
    public const int SigStop = 19;
    public const int SigCont = 18;

    /// <summary>SIGTERM, then SIGKILL if it has not ended within <paramref name="grace"/>. A stopped process is woken first.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        Signal(SigCont);
        Signal(SigTerm);
        using var deadline = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        Kill();
        _disposed = true;
        _process.Dispose();
        lock (_log)
            _log.Dispose();
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
            return;
        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // The process's last lines after the campaign let it go.
            }
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
