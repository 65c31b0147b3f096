namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>
/// How far one run or partition has got, as its job reports it while working: the engine hands one
/// to <see cref="IDailyJob.RunAsync"/>, persists it with every lease renewal (Batch:ProgressInterval)
/// and takes it as the outcome of work that stopped on an exception, so such a run shows what it wrote.
/// Safe to report from the job's concurrent stages.
/// </summary>
public sealed class RunProgress
{
    private static readonly AsyncLocal<Action<RunProgress>?> Watcher = new();

    private int _expected;
    private int _success;
    private int _skipped;
    private int _failed;

    /// <param name="run">How log lines name the run, when this is the progress of a recorded run (see <see cref="Run"/>).</param>
    public RunProgress(string? run = null)
    {
        Run = run;
        Watcher.Value?.Invoke(this);
    }

    /// <summary>
    /// How log lines name the run this is the progress of ("asset-refresh run 42 attempt 1"), for what the
    /// work reports beside the engine (its calls' retries); the same for every partition of an attempt.
    /// Null for work outside a recorded run.
    /// </summary>
    public string? Run { get; }

    /// <summary>
    /// Hands every progress created from now on on the caller's flow (the runs it starts beneath) to
    /// <paramref name="started"/>, until disposed: how the CLI shows the very counts a run reports, in-process.
    /// </summary>
    public static IDisposable WatchStarted(Action<RunProgress> started)
    {
        var outer = Watcher.Value;
        Watcher.Value = started;
        return new WatchEnd(outer);
    }

    private sealed class WatchEnd(Action<RunProgress>? outer) : IDisposable
    {
        public void Dispose() => Watcher.Value = outer;
    }

    /// <summary>
    /// The work counted at the start: the users of the range the work has to process, not those it will
    /// pass over as done already (a continuation's earlier attempts did them); set once, before the first <see cref="Done"/>.
    /// </summary>
    public void Expect(int users) => Volatile.Write(ref _expected, users);

    /// <summary>Users finished since the last report, by outcome; skipped ones needed no work (done already, or not due).</summary>
    public void Done(int success = 0, int skipped = 0, int failed = 0)
    {
        if (success != 0)
            Interlocked.Add(ref _success, success);
        if (skipped != 0)
            Interlocked.Add(ref _skipped, skipped);
        if (failed != 0)
            Interlocked.Add(ref _failed, failed);
    }

    public RunProgressSnapshot Snapshot()
    {
        var (success, skipped, failed) = (Volatile.Read(ref _success), Volatile.Read(ref _skipped), Volatile.Read(ref _failed));
        return new RunProgressSnapshot(Volatile.Read(ref _expected), success + skipped + failed, success, skipped, failed);
    }
}

/// <summary>
/// One reading of a <see cref="RunProgress"/>: <see cref="Seen"/> is every user gone through, whatever the outcome;
/// <see cref="Expected"/> the users counted at the start as work to do.
/// </summary>
public sealed record RunProgressSnapshot(int Expected, int Seen, int Success, int Skipped, int Failed)
{
    /// <summary>
    /// Users of the work through: written or failed. Skipped users needed no work, so they are neither
    /// throughput nor work left; a user another writer did first while this work held it counts as left
    /// (rare: an estimate then errs late, never early).
    /// </summary>
    public int Processed => Success + Failed;

    /// <summary>Users of the work counted at the start and not processed yet.</summary>
    public int Left => Math.Max(0, Expected - Processed);

    /// <summary>What the work did until it stopped on an exception, as an outcome that says why.</summary>
    public BatchOutcome ToOutcome(string why) => new(Seen, Success, Skipped, Failed, why);
}
