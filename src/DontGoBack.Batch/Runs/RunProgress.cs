using DontGoBack.Batch.Telemetry;

namespace DontGoBack.Batch.Runs;

/// <summary>
/// How far one run or partition has got, as its job reports it while working: the one count of its users.
/// The engine (<see cref="BatchRunLifecycle"/>) creates one per run or partition and hands it to everything
/// that observes it: the job (<see cref="IDailyJob.RunAsync"/>) reports each user's result here once; the lease
/// persists a <see cref="Snapshot"/> with every renewal (Batch:ProgressInterval); the meter counts each report as
/// it is made and reads the rate and the users left from it; a caller that asked to follow the run (the CLI's
/// progress bar) reads it too; and the engine takes it as the outcome of work that stopped on an exception, so
/// such a run shows what it wrote, what it found not due and the job's own counts. Safe to report from the job's concurrent stages.
/// </summary>
/// <param name="job">The name the run is recorded under (asset-refresh, or a back-fill's subset name): what the meter tags its measurements with. Null outside a recorded run.</param>
/// <param name="run">How log lines name the run, when this is the progress of a recorded run (see <see cref="Run"/>).</param>
/// <param name="meter">Counts every report as it is made; none outside a recorded run.</param>
public sealed class RunProgress(string? job = null, string? run = null, BatchMetrics? meter = null)
{
    private int _expected;
    private int _success;
    private int _skipped;
    private int _failed;
    private int _notDue;
    private readonly Lock _countersLock = new();
    private BatchCounters _counters;

    /// <summary>The name the run is recorded under; the meter's job tag for what the work measures beside the users (its calls, its writes).</summary>
    public string? Job => job;

    /// <summary>
    /// How log lines name the run this is the progress of ("asset-refresh run 42 attempt 1"), for what the
    /// work reports beside the engine (its calls' retries); the same for every partition of an attempt.
    /// Null for work outside a recorded run.
    /// </summary>
    public string? Run => run;

    /// <summary>
    /// The work counted at the start: the users of the range the work has to process, not those it will
    /// pass over as done already (a continuation's earlier attempts did them); set once, before the first <see cref="Done"/>.
    /// </summary>
    public void Expect(int users) => Volatile.Write(ref _expected, users);

    /// <summary>
    /// Users finished since the last report, by outcome; skipped ones needed no work (done already, or not due).
    /// Each user is reported once, here or to <see cref="Failed{TClass}"/>: nobody else counts them.
    /// </summary>
    /// <param name="failed">Failures the job does not classify; those it does go to <see cref="Failed{TClass}"/>.</param>
    public void Done(int success = 0, int skipped = 0, int failed = 0)
    {
        if (success != 0)
            Interlocked.Add(ref _success, success);
        if (skipped != 0)
            Interlocked.Add(ref _skipped, skipped);
        if (failed != 0)
            Interlocked.Add(ref _failed, failed);
        meter?.UsersDone(job, success, skipped, failed);
    }

    /// <summary>
    /// Users passed over as not due on the day (an account opened after it): skipped, never work, and counted
    /// as not due, so a run stopped before its end still records how many it found.
    /// </summary>
    public void NotDue(int users)
    {
        if (users <= 0)
            return;
        Interlocked.Add(ref _notDue, users);
        Done(skipped: users);
    }

    /// <summary>
    /// The job's own counts of what it did since the last report (<see cref="BatchCounters.Of{TCounters}"/>), added up
    /// here as they happen, so a run stopped before its end still records what it had counted.
    /// </summary>
    public void Count(BatchCounters counters)
    {
        if (counters.IsEmpty)
            return;
        lock (_countersLock)
            _counters = _counters.Add(counters);
    }

    /// <summary>Users that failed since the last report, of one failure class: an enum, so the meter's tag has bounded values by construction.</summary>
    public void Failed<TClass>(TClass failureClass, int count) where TClass : struct, Enum
    {
        if (count <= 0)
            return;
        Interlocked.Add(ref _failed, count);
        meter?.UsersFailed(job, failureClass, count);
    }

    public RunProgressCounts Snapshot()
    {
        var (success, skipped, failed) = (Volatile.Read(ref _success), Volatile.Read(ref _skipped), Volatile.Read(ref _failed));
        BatchCounters counters;
        lock (_countersLock)
            counters = _counters;
        return new RunProgressCounts(Volatile.Read(ref _expected), success + skipped + failed, success, skipped, failed, Volatile.Read(ref _notDue), counters);
    }
}

/// <summary>
/// One reading of a <see cref="RunProgress"/>: <see cref="Seen"/> is every user gone through, whatever the outcome;
/// <see cref="Expected"/> the users counted at the start as work to do.
/// </summary>
/// <param name="NotDue">Of the skipped, users not due on the day (<see cref="RunProgress.NotDue"/>).</param>
/// <param name="Counters">The job's own counts so far (<see cref="RunProgress.Count"/>).</param>
public sealed record RunProgressCounts(int Expected, int Seen, int Success, int Skipped, int Failed, int NotDue = 0, BatchCounters Counters = default)
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
    public BatchOutcome ToOutcome(string why) => new(Seen, Success, Skipped, Failed, why, NotDue, Counters);
}
