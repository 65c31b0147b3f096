using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// Standard error (and standard output, when it is the same kind of thing) of a command run on a
/// terminal. While a progress bar is drawn there, whole lines written to them — log lines, a
/// back-fill's day lines — are held, and the bar prints them above itself as it is drawn again,
/// instead of their landing in the middle of it.
/// </summary>
/// <remarks>
/// Installed with <see cref="Console.SetError"/> before the host is built, so the console logger,
/// which keeps the writer it finds when it is created, writes through it too. Held lines are handed
/// to the one flow that draws the bar: Spectre's live display takes no writes from other threads.
/// </remarks>
public sealed class TerminalOutput
{
    private readonly Lock _lock = new();
    private readonly TextWriter _standardError;
    private readonly StringBuilder _held = new();
    private bool _live;

    private TerminalOutput(TextWriter standardError) => _standardError = standardError;

    /// <summary>Takes over standard error (and standard output) when standard error is a terminal; null when it is not (CI, pipes, files).</summary>
    public static TerminalOutput? Install()
    {
        if (Console.IsErrorRedirected)
            return null;
        var terminal = new TerminalOutput(Console.Error);
        Console.SetError(new Gate(terminal, Console.Error));
        if (!Console.IsOutputRedirected)
            Console.SetOut(new Gate(terminal, Console.Out));
        return terminal;
    }

    /// <summary>A console that draws on the terminal itself: interactive, whatever the environment says (a CI variable does not make a terminal a pipe).</summary>
    public IAnsiConsole CreateConsole() => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(_standardError),
        Interactive = InteractionSupport.Yes,
        Ansi = AnsiSupport.Detect,
        ColorSystem = ColorSystemSupport.Detect,
    });

    /// <summary>Whole lines written from now on are held for <see cref="TakeHeld"/>, until disposed; then what is left is written out.</summary>
    public IDisposable Live()
    {
        lock (_lock)
            _live = true;
        return new LiveEnd(this);
    }

    /// <summary>The lines held since the last call, as one renderable that prints them above a live display; null when there are none.</summary>
    public IRenderable? TakeHeld()
    {
        lock (_lock)
        {
            if (_held.Length == 0)
                return null;
            var lines = new Lines(_held.ToString());
            _held.Clear();
            return lines;
        }
    }

    private sealed class LiveEnd(TerminalOutput terminal) : IDisposable
    {
        public void Dispose()
        {
            lock (terminal._lock)
            {
                terminal._live = false;
                terminal._standardError.Write(terminal._held.ToString());
                terminal._standardError.Flush();
                terminal._held.Clear();
            }
        }
    }

    /// <summary>Raw text, colours and all, with the live display's lines cleared below it so none of the bar is left beside it.</summary>
    private sealed class Lines(string text) : IRenderable
    {
        public Measurement Measure(RenderOptions options, int maxWidth) => new(0, 0);

        public IEnumerable<Segment> Render(RenderOptions options, int maxWidth) => [Segment.Control("\u001b[0J" + text)];
    }

    /// <summary>One of the two streams: straight through while no bar is drawn, whole lines held while one is.</summary>
    private sealed class Gate(TerminalOutput terminal, TextWriter inner) : TextWriter
    {
        private readonly StringBuilder _pending = new();

        public override Encoding Encoding => inner.Encoding;

        public override void Write(char value) => Write(value.ToString());

        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

        public override void WriteLine(string? value) => Write(value + new string(CoreNewLine));

        public override void Write(string? value)
        {
            if (string.IsNullOrEmpty(value))
                return;
            lock (terminal._lock)
            {
                if (!terminal._live)
                {
                    FlushPending();
                    inner.Write(value);
                    return;
                }
                // A line is held once it is whole: a part of one would be split by the bar drawn after it.
                _pending.Append(value);
                var end = _pending.ToString().LastIndexOf('\n');
                if (end < 0)
                    return;
                terminal._held.Append(_pending.ToString(0, end + 1));
                _pending.Remove(0, end + 1);
            }
        }

        public override void Flush()
        {
            lock (terminal._lock)
            {
                if (!terminal._live)
                    FlushPending();
                inner.Flush();
            }
        }

        private void FlushPending()
        {
            if (_pending.Length == 0)
                return;
            inner.Write(_pending.ToString());
            _pending.Clear();
        }
    }
}
