using System.Runtime.InteropServices;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// Ctrl+C (SIGINT) and SIGTERM while a command runs: instead of ending the process in the middle
/// of a write, they cancel the command's token, so a run is recorded `aborted` and its result line
/// printed, as the server does on shutdown. A second signal gets the default: the process ends at once.
/// </summary>
public sealed class TerminationSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration[] _registrations;
    private PosixSignal? _received;

    public TerminationSignals() =>
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle)];

    public CancellationToken Token => _stop.Token;

    /// <summary>The signal's name, e.g. SIGTERM; null while none arrived.</summary>
    public string? Received => _received?.ToString();

    /// <summary>What shells report for a process a signal ended, 128 + its number: 130 for SIGINT, 143 for SIGTERM; null while none arrived.</summary>
    public int? ExitCode => _received switch
    {
        PosixSignal.SIGINT => 130,
        PosixSignal.SIGTERM => 143,
        _ => null,
    };

    private void Handle(PosixSignalContext context)
    {
        lock (_stop)
        {
            if (_received is not null)
                return;
            _received = context.Signal;
        }
        context.Cancel = true;
        // Off the signal thread: cancellation runs the callbacks of everything the command is waiting on.
        _ = Task.Run(() =>
        {
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The command finished in the meantime.
            }
        });
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
            registration.Dispose();
        _stop.Dispose();
    }
}
