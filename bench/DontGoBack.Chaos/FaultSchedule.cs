using System.Globalization;

namespace DontGoBack.Chaos;

public enum FaultKind
{
    KillReplica,
    StopReplica,
    PostgresRestartFast,
    PostgresRestartImmediate,
    TerminateConnections,
    ExtensionServerErrors,
    ExtensionLatency,
    ExtensionResets,
    ExtensionThrottled,
    AuthOutage,
    ClockSkew,
    CancelRun,
    PauseSchedule,
    RunAgain,
    LateRetry,
}

/// <param name="Day">The campaign's day number, from 0.</param>
/// <param name="At">Seconds after the day's replicas were started (the day's start: its cron fires twenty seconds in).</param>
/// <param name="For">How long the fault lasts (seconds): the restart delay of a kill, the stop of a SIGSTOP, the database's downtime, the extension's outage, the pause.</param>
/// <param name="Replica">The replica it hits, from 0; -1 when none.</param>
/// <param name="Amount">The fault's size: the added latency in ms, the clock offset in minutes.</param>
public sealed record FaultEvent(int Day, double At, FaultKind Kind, double For = 0, int Replica = -1, int Amount = 0)
{
    public bool IsOperatorAction => Kind is FaultKind.CancelRun or FaultKind.PauseSchedule or FaultKind.RunAgain or FaultKind.LateRetry;

    public override string ToString()
    {
        var what = Kind switch
        {
            FaultKind.KillReplica => $"kill -9 node-{Replica + 1}, restarted {For:0.0} s later",
            FaultKind.StopReplica => $"SIGSTOP node-{Replica + 1} for {For:0.0} s, then SIGCONT",
            FaultKind.PostgresRestartFast => $"PostgreSQL stopped (fast) for {For:0.0} s",
            FaultKind.PostgresRestartImmediate => $"PostgreSQL stopped (immediate) for {For:0.0} s",
            FaultKind.TerminateConnections => "pg_terminate_backend of every application connection",
            FaultKind.ExtensionServerErrors => $"extension answers 500 for {For:0.0} s",
            FaultKind.ExtensionLatency => $"extension answers {Amount} ms late for {For:0.0} s",
            FaultKind.ExtensionResets => $"extension resets connections for {For:0.0} s",
            FaultKind.ExtensionThrottled => $"extension answers 429 (Retry-After 1) for {For:0.0} s",
            FaultKind.AuthOutage => $"auth server down (tokens refused) for {For:0.0} s",
            FaultKind.ClockSkew => $"node-{Replica + 1}'s clock {Amount:+0;-0} min off for the day",
            FaultKind.CancelRun => "operator cancels the running run",
            FaultKind.PauseSchedule => $"operator pauses the schedule, resumes {For:0.0} s later",
            FaultKind.RunAgain => "operator runs the day before again (refresh --day)",
            FaultKind.LateRetry => "operator retries the failed users of every earlier day (retry-failed --day)",
            _ => Kind.ToString(),
        };
        return string.Create(CultureInfo.InvariantCulture, $"day {Day + 1} +{At,5:0.0} s  {what}");
    }
}

/// <summary>
/// The campaign's faults and operator actions, drawn up front from the seed alone (System.Random with a seed is
/// the same sequence on every run of a given .NET), with times relative to each day's start: same seed and
/// commit, same timeline.
/// </summary>
public static class FaultSchedule
{
    /// <param name="window">Seconds each day lasts before the campaign moves on (the faults fall inside it).</param>
    /// <param name="lease">The replicas' Batch:LeaseTimeout in seconds: a SIGSTOP outlasts it.</param>
    /// <param name="deadline">Seconds from the day's start to its completion deadline: an outage that long makes the day late.</param>
    public static IReadOnlyList<FaultEvent> Draw(int seed, int days, int replicas, double window, double lease, double deadline)
    {
        var random = new Random(seed);
        var events = new List<FaultEvent>();
        double Between(double low, double high) => low + random.NextDouble() * (high - low);
        // Faults land from just before the cron fire (20 s in) to well before the day's end.
        const double fire = 20;
        var latest = Math.Max(fire + 5, window - 12);
        for (var day = 0; day < days; day++)
        {
            if (random.NextDouble() < 0.3)
                events.Add(new FaultEvent(day, 0, FaultKind.ClockSkew, Replica: random.Next(replicas), Amount: (random.Next(2) == 0 ? -1 : 1) * random.Next(1, 4)));
            if (random.NextDouble() < 0.8)
                events.Add(new FaultEvent(day, Between(fire - 2, latest), FaultKind.KillReplica, Between(1, 8), random.Next(replicas)));
            if (random.NextDouble() < 0.5)
                events.Add(new FaultEvent(day, Between(fire - 2, latest), FaultKind.StopReplica, lease + Between(2, 6), random.Next(replicas)));
            switch (random.Next(4))
            {
                case 0: events.Add(new FaultEvent(day, Between(fire - 2, latest), FaultKind.PostgresRestartFast, Between(1, 5))); break;
                case 1: events.Add(new FaultEvent(day, Between(fire - 2, latest), FaultKind.PostgresRestartImmediate, Between(1, 5))); break;
                case 2: events.Add(new FaultEvent(day, Between(fire - 2, latest), FaultKind.TerminateConnections)); break;
            }
            // Extension faults one at a time (the stand-in holds one): up to two per day in separate halves.
            var half = (latest - fire) / 2;
            for (var slot = 0; slot < 2; slot++)
            {
                if (random.NextDouble() < 0.3)
                    continue;
                var at = Between(fire + slot * half, fire + slot * half + half * 0.5);
                var kind = (FaultKind)random.Next((int)FaultKind.ExtensionServerErrors, (int)FaultKind.AuthOutage + 1);
                // An auth outage on the first slot, now and then, outlasts the deadline: the day must alert and resolve.
                var length = kind == FaultKind.AuthOutage && slot == 0 && random.NextDouble() < 0.5 ? deadline + Between(5, 10) : Between(2, half * 0.5);
                events.Add(new FaultEvent(day, at, kind, length, Amount: kind == FaultKind.ExtensionLatency ? random.Next(500, 6_000) : 0));
            }
            if (random.NextDouble() < 0.5)
                events.Add(new FaultEvent(day, Between(fire + 2, latest), FaultKind.CancelRun));
            if (random.NextDouble() < 0.4)
                events.Add(new FaultEvent(day, Between(fire + 2, latest), FaultKind.PauseSchedule, Between(2, 8)));
            if (day > 0 && random.NextDouble() < 0.5)
                events.Add(new FaultEvent(day, Between(fire - 2, latest), FaultKind.RunAgain));
            if (day > 0 && random.NextDouble() < 0.6)
                events.Add(new FaultEvent(day, Between(fire - 2, latest), FaultKind.LateRetry));
        }
        return events.OrderBy(e => e.Day).ThenBy(e => e.At).ToList();
    }
}
