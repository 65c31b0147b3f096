using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace DontGoBack.Bench;

/// <param name="PeakResidentBytes">The highest VmHWM seen while the process ran; 0 when it was never seen.</param>
/// <param name="CpuTime">User + system CPU time at the last sample, at most one poll interval before the exit.</param>
internal sealed record ChildRun(int ExitCode, IReadOnlyList<string> StandardOutput, TimeSpan Wall, long PeakResidentBytes, TimeSpan CpuTime);

/// <summary>`dotnet some.dll …` as a child process, with the settings passed as environment variables.</summary>
internal static class DotnetProcess
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <param name="onOutputLine">Receives standard output line by line; standard error goes straight to ours.</param>
    public static Process Start(
        string dll, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, Action<string> onOutputLine)
    {
        var startInfo = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            // The host reads appsettings.json from its content root, the working directory: the one shipped beside the dll.
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        startInfo.ArgumentList.Add(dll);
        foreach (var argument in arguments)
            startInfo.ArgumentList.Add(argument);
        foreach (var (name, value) in environment)
            startInfo.Environment[name] = value;

        var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is not null)
                onOutputLine(line.Data);
        };
        process.Start();
        process.BeginOutputReadLine();
        return process;
    }

    /// <summary>Runs to the end, sampling the peak resident set from /proc while it runs.</summary>
    public static async Task<ChildRun> RunAsync(
        string dll, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        var output = new ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        using var process = Start(dll, arguments, environment, output.Enqueue);
        try
        {
            var exited = process.WaitForExitAsync(cancellationToken);
            var peak = 0L;
            var cpu = TimeSpan.Zero;
            while (!exited.IsCompleted)
            {
                // VmHWM only grows, so the last reading is the peak up to that moment.
                peak = Math.Max(peak, PeakResidentBytes(process.Id) ?? 0);
                cpu = CpuTime(process) ?? cpu;
                await Task.WhenAny(exited, Task.Delay(PollInterval, cancellationToken));
            }
            await exited;
            clock.Stop();
            return new ChildRun(process.ExitCode, output.ToArray(), clock.Elapsed, peak, cpu);
        }
        finally
        {
            Stop(process);
        }
    }

    public static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the kill.
        }
    }

    /// <returns>Null once the process has exited.</returns>
    public static TimeSpan? CpuTime(Process process)
    {
        try
        {
            process.Refresh();
            return process.TotalProcessorTime;
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception)
        {
            // Exited before the check, or between the check and the read of /proc.
            return null;
        }
    }

    /// <returns>Null once the process is gone or a zombie (whose status has no memory lines).</returns>
    private static long? PeakResidentBytes(int processId)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{processId}/status"))
            {
                if (!line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    continue;
                var kilobytes = line["VmHWM:".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
            }
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
