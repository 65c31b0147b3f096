using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using System.Globalization;
using Microsoft.Extensions.Options;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace DontGoBack.CoreServer.Cli;

/// <summary>How a command shows people how far it has got, decided once for the process.</summary>
/// <param name="Quiet">`--quiet`: nothing but the result.</param>
/// <param name="Terminal">Standard error when it is a terminal (a live bar is drawn there); null when it is a pipe or a file (progress lines are logged).</param>
public sealed record CommandConsole(bool Quiet, TerminalOutput? Terminal);

/// <summary>
/// What a command's work has got to, read by <see cref="CommandProgress"/>: the progress of the run
/// under way — the very one its job reports and the engine persists, handed over by the engine to
/// <see cref="Follow"/> — and, for work of several runs (a back-fill's days), which step it is on.
/// </summary>
public sealed class ProgressWatch(string what, TimeProvider time)
{
    private readonly Lock _lock = new();
    private (RunProgress Progress, DateTimeOffset Since)? _current;
    private string _what = what;
    private (int Done, int Of, string Unit)? _steps;

    /// <summary>The run that reports from now on: the command passes this to the engine, which hands it each run's progress as the run starts.</summary>
    public void Follow(RunProgress progress)
    {
        lock (_lock)
            _current = (progress, time.GetUtcNow());
    }

    /// <summary>What the work is on now, e.g. "Back-fill 2026-11-20".</summary>
    public void Describe(string what)
    {
        lock (_lock)
            _what = what;
    }

    /// <summary>Work of several runs: <paramref name="done"/> of <paramref name="of"/> are through; <paramref name="unit"/> names one, e.g. "day".</summary>
    public void Steps(int done, int of, string unit)
    {
        lock (_lock)
            _steps = (done, of, unit);
    }

    /// <summary>Now, with the rate and ETA as the run history computes them; null until a run counted its work.</summary>
    public ProgressReading? Read()
    {
        lock (_lock)
        {
            if (_current is not var (progress, since) || progress.Snapshot() is not { } snapshot || (snapshot.Expected == 0 && snapshot.Seen == 0))
                return null;
            return new ProgressReading(_what, _steps, RunProgressReader.Describe(snapshot, since, time.GetUtcNow()));
        }
    }
}

/// <summary>One reading of a <see cref="ProgressWatch"/>, and how it is said.</summary>
public sealed record ProgressReading(string What, (int Done, int Of, string Unit)? Steps, RunProgressView Progress)
{
    /// <summary>What the work is on, with its step when it has several, e.g. "Back-fill 2026-11-20 (day 3 of 10)".</summary>
    public string Heading => Steps is var (done, of, unit) ? Invariant($"{What} ({unit} {Math.Min(done + 1, of)} of {of})") : What;

    /// <summary>Of the users the run had to process; those it skipped as done already are said apart, as they are no work.</summary>
    public string CountText => Progress.Skipped > 0
        ? Invariant($"{Progress.Processed:N0} of {Progress.Expected:N0} users ({Progress.Skipped:N0} skipped)")
        : Invariant($"{Progress.Processed:N0} of {Progress.Expected:N0} users");

    public string RateText => Invariant($"{Progress.UsersPerSecond:N0} users/s");

    public string EtaText => Progress.Eta is { } eta ? $"ETA {Remaining(eta - Progress.At)}" : "ETA unknown";

    public int Percent => (int)Math.Floor(Progress.Percent);

    private static string Remaining(TimeSpan left) => left switch
    {
        { TotalSeconds: < 60 } => Invariant($"{Math.Ceiling(left.TotalSeconds):0} s"),
        { TotalHours: < 1 } => Invariant($"{left.Minutes} min {left.Seconds:00} s"),
        _ => Invariant($"{(int)left.TotalHours} h {left.Minutes:00} min"),
    };

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Shows a command's progress while its work goes on: a live bar (done of total, users/s, ETA) on
/// standard error when it is a terminal, one logged line every Batch:ProgressInterval when it is not,
/// nothing with `--quiet`. Standard output is left to the result.
/// </summary>
public sealed partial class CommandProgress(CommandConsole console, TimeProvider time, IOptions<BatchOptions> batch, ILogger<CommandProgress> logger)
{
    /// <summary>How often the bar is redrawn from the run's counts; the log lines keep the run history's pace instead.</summary>
    private static readonly TimeSpan BarRefresh = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Runs <paramref name="work"/> and shows how far it has got until it ends: the work hands the watch's
    /// <see cref="ProgressWatch.Follow"/> to the runs it starts, so the bar reads their progress.
    /// </summary>
    public async Task<T> ShowAsync<T>(string what, Func<ProgressWatch, Task<T>> work)
    {
        var watch = new ProgressWatch(what, time);
        var working = work(watch);
        if (!console.Quiet)
        {
            try
            {
                if (console.Terminal is { } terminal)
                    await DrawBarAsync(terminal, watch, working);
                else
                    await LogLinesAsync(watch, working);
            }
            catch (Exception e)
            {
                // Showing progress must never end the work it shows (a run would be left running): it goes on unseen.
                LogDisplayFailed(e);
            }
        }
        return await working;
    }

    private async Task LogLinesAsync(ProgressWatch watch, Task working)
    {
        using var every = new PeriodicTimer(batch.Value.ProgressInterval, time);
        while (!working.IsCompleted)
        {
            if (await Task.WhenAny(working, every.WaitForNextTickAsync().AsTask()) == working)
                return;
            if (watch.Read() is { } reading)
            {
                LogProgress(reading.Heading, reading.Progress.Processed, reading.Progress.Expected, reading.Percent, reading.Progress.UsersPerSecond,
                    reading.EtaText);
            }
        }
    }

    private async Task DrawBarAsync(TerminalOutput terminal, ProgressWatch watch, Task working)
    {
        // Nothing to draw until a run has counted its work; a command that fails before that prints only its reason.
        ProgressReading? reading;
        while ((reading = watch.Read()) is null)
        {
            if (await Task.WhenAny(working, Task.Delay(BarRefresh, time)) == working)
                return;
        }

        var ansi = terminal.CreateConsole();
        using var live = terminal.Live();
        // Drawn only from this flow (no refresh thread of Spectre's), so the held lines are printed between two frames, never during one.
        var progress = new Progress(ansi, time) { AutoRefresh = false, AutoClear = false, HideCompleted = false, ExcludeVerticalPadding = true }
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 30 }, new PercentageColumn(),
                new FiguresColumn());
        await progress.StartAsync(async context =>
        {
            ProgressTask? steps = reading.Steps is null ? null : context.AddTask(Markup.Escape($"{reading.Steps.Value.Unit}s"));
            var users = context.AddTask(Markup.Escape(reading.What));
            while (true)
            {
                // Read after the work is seen to end, so the last frame has the counts as the run left them.
                var ended = working.IsCompleted;
                Show(steps, users, watch.Read() ?? reading);
                if (terminal.TakeHeld() is { } lines)
                    ansi.Write(lines);
                context.Refresh();
                if (ended)
                    break;
                await Task.WhenAny(working, Task.Delay(BarRefresh, time));
            }
        });
    }

    private static void Show(ProgressTask? steps, ProgressTask users, ProgressReading reading)
    {
        if (steps is not null && reading.Steps is var (done, of, unit))
        {
            steps.Description = Markup.Escape($"{unit}s");
            steps.MaxValue = Math.Max(1, of);
            steps.Value = done;
            steps.Tag = string.Create(CultureInfo.InvariantCulture, $"{done} of {of} {unit}s");
        }
        users.Description = Markup.Escape(reading.What);
        users.MaxValue = Math.Max(1, reading.Progress.Expected);
        users.Value = reading.Progress.Expected > 0 ? Math.Min(reading.Progress.Processed, reading.Progress.Expected) : users.MaxValue;
        users.Tag = $"{reading.CountText} · {reading.RateText} · {reading.EtaText}";
    }

    /// <summary>The figures of a task as the command worked them out (<see cref="ProgressTask.Tag"/>), not Spectre's own sampling.</summary>
    private sealed class FiguresColumn : ProgressColumn
    {
        protected override bool NoWrap => true;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) => new Text(task.Tag as string ?? "");
    }

    [LoggerMessage(LogLevel.Warning, "The progress display failed; the work goes on without it")]
    private partial void LogDisplayFailed(Exception exception);

    // One line every few seconds where no bar can be drawn (CI, pipes, a service manager's journal): users processed of those to do.
    [LoggerMessage(LogLevel.Information, "{What}: {Processed} of {Expected} users ({Percent}%), {UsersPerSecond} users/s, {Eta}")]
    private partial void LogProgress(string what, int processed, int expected, int percent, double usersPerSecond, string eta);
}
