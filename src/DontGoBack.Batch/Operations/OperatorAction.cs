using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using System.Text.Json.Serialization;

namespace DontGoBack.Batch.Operations;

/// <summary>One thing an operator did (or tried) to the batches, through the HTTP API or the console: the audit trail.</summary>
public sealed class OperatorAction
{
    public long Id { get; set; }
    public DateTimeOffset At { get; set; }
    public OperatorActionKind Action { get; set; }
    public string? JobName { get; set; }
    public long? RunId { get; set; }
    public DateOnly? Day { get; set; }

    /// <summary>The caller's address as the server saw it (after trusted proxies).</summary>
    public string Address { get; set; } = "";

    /// <summary>The name of the admin token the caller presented, or <see cref="Operator.NoToken"/> when none is configured.</summary>
    public string TokenName { get; set; } = "";

    public string? Reason { get; set; }
    public OperatorActionOutcome Outcome { get; set; }

    /// <summary>What came of it, in words (a refusal's reason, a run's result).</summary>
    public string? Detail { get; set; }
}

[JsonConverter(typeof(JsonStringEnumConverter<OperatorActionKind>))]
public enum OperatorActionKind
{
    /// <summary>Ran (or started) a day of a job.</summary>
    [JsonStringEnumMemberName("trigger")] Trigger,
    /// <summary>Ran a recorded day again for its users not done.</summary>
    [JsonStringEnumMemberName("retry")] Retry,
    [JsonStringEnumMemberName("cancel")] Cancel,
    [JsonStringEnumMemberName("pause")] Pause,
    [JsonStringEnumMemberName("resume")] Resume,
}

[JsonConverter(typeof(JsonStringEnumConverter<OperatorActionOutcome>))]
public enum OperatorActionOutcome
{
    /// <summary>Done (a pause, a resume), started and going on (a run), or taken and waiting for the run to see it (a cancel).</summary>
    [JsonStringEnumMemberName("accepted")] Accepted,
    /// <summary>A cancel the run saw: it stopped, aborted by the cancel.</summary>
    [JsonStringEnumMemberName("applied")] Applied,
    /// <summary>A cancel taken while the run was running, but the run ended another way (completed, failed) before it saw it.</summary>
    [JsonStringEnumMemberName("too_late")] TooLate,
    /// <summary>Not done: the state did not allow it (already paused, run not running, day held by another attempt).</summary>
    [JsonStringEnumMemberName("refused")] Refused,
    /// <summary>Not done: the request itself was wrong (no reason, a bad day, no such job or run).</summary>
    [JsonStringEnumMemberName("invalid")] Invalid,
    /// <summary>Tried, and it failed (a run that failed, a database fault).</summary>
    [JsonStringEnumMemberName("failed")] Failed,
}

/// <summary>Who acts: the caller's address and the name of the token it presented.</summary>
public sealed record Operator(string Address, string TokenName)
{
    /// <summary>The token name recorded when no admin token is configured (the address guard alone admits callers).</summary>
    public const string NoToken = "none";

    /// <summary>Where the host's guard of internal endpoints leaves the name of the token a request presented.</summary>
    public const string TokenNameItem = "DontGoBack.AdminTokenName";

    public static Operator Of(HttpContext http) => new(
        http.Connection.RemoteIpAddress is { } address ? (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString() : "unknown",
        http.Items[TokenNameItem] as string ?? NoToken);
}

/// <summary>A job's cron trigger paused by an operator: persisted, so every node and every restart keeps it paused until resumed.</summary>
public sealed class SchedulePause
{
    public string JobName { get; set; } = "";
    public DateTimeOffset PausedAt { get; set; }
    public string Reason { get; set; } = "";
    public string Address { get; set; } = "";
    public string TokenName { get; set; } = "";
}

/// <summary>Action kinds and outcomes as the audit trail shows them, the same words as its JSON.</summary>
public static class OperatorActionText
{
    public static string ToText(this OperatorActionKind action) => action.ToString().ToLowerInvariant();

    public static string ToText(this OperatorActionOutcome outcome) => outcome switch
    {
        OperatorActionOutcome.Accepted => "accepted",
        OperatorActionOutcome.Applied => "applied",
        OperatorActionOutcome.TooLate => "too_late",
        OperatorActionOutcome.Refused => "refused",
        OperatorActionOutcome.Invalid => "invalid",
        OperatorActionOutcome.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, null),
    };
}
