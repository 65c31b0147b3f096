using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Schedule;
using System.Text.Json.Serialization;

namespace DontGoBack.Batch.Alerts;

/// <summary>
/// One alert message about a day and a <see cref="DeadlineCondition"/>: raised once the deadline
/// passed with the condition holding, resolved once it no longer does. The table is both the guard
/// that makes each message happen once across every node (a unique day, condition and kind) and
/// the outbox its webhook delivery works from, so a node that dies mid-delivery leaves it to another.
/// </summary>
public sealed class DeadlineAlert
{
    public long Id { get; set; }
    public string JobName { get; set; } = "";
    public DateOnly Day { get; set; }
    public DeadlineCondition Condition { get; set; }
    public AlertKind Kind { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The node that found the condition and wrote the message.</summary>
    public string Node { get; set; } = "";

    /// <summary>The JSON body the webhook receives, as written when the alert was made (what the day was like then).</summary>
    public string Payload { get; set; } = "";

    public AlertDelivery Delivery { get; set; }

    /// <summary>Webhook calls made so far.</summary>
    public int Attempts { get; set; }

    public DateTimeOffset NextAttemptAt { get; set; }

    /// <summary>While a node posts the message, others leave it alone until this passes.</summary>
    public DateTimeOffset? LeaseUntil { get; set; }

    public DateTimeOffset? SentAt { get; set; }
    public string? LastError { get; set; }
}

[JsonConverter(typeof(JsonStringEnumConverter<AlertKind>))]
public enum AlertKind
{
    [JsonStringEnumMemberName("raised")] Raised,
    [JsonStringEnumMemberName("resolved")] Resolved,
}

/// <summary>Where an alert's webhook message stands.</summary>
public enum AlertDelivery
{
    /// <summary>To be posted (again) at its next attempt time.</summary>
    Pending,
    Sent,
    /// <summary>Every attempt failed (Alerts:MaxAttempts); the last error stays on the row.</summary>
    GaveUp,
    /// <summary>No Alerts:WebhookUrl was set when the alert was made: logged and counted only.</summary>
    NoWebhook,
}

/// <summary>The counts of the day's run as the alert saw them: the running attempt's progress, or the latest attempt's outcome.</summary>
public sealed record AlertCounts(int Expected, int Seen, int Success, int Skipped, int Failed);

/// <summary>The JSON body of an alert's webhook call (and the alert's record); job, day, condition and kind identify it.</summary>
/// <param name="Status">The day's run status (running, failed, completed_with_failures, …), or not_started when it has no run.</param>
/// <param name="DoneRatio">Users done of those seen, when the run saw any.</param>
public sealed record AlertMessage(
    AlertKind Kind, string Job, DateOnly Day, DeadlineCondition Condition, string Status, DateTimeOffset Deadline,
    AlertCounts Counts, double? DoneRatio, double MinSuccessRatio, string Summary, string Node, DateTimeOffset At);

/// <summary>The one spelling of alert conditions and kinds wherever they are read: JSON, logs and metric tags.</summary>
public static class AlertText
{
    public static string ToText(this DeadlineCondition condition) => condition switch
    {
        DeadlineCondition.Overdue => "overdue",
        DeadlineCondition.LowSuccessRatio => "low_success_ratio",
        _ => throw new ArgumentOutOfRangeException(nameof(condition), condition, null),
    };

    public static string ToText(this AlertKind kind) => kind switch
    {
        AlertKind.Raised => "raised",
        AlertKind.Resolved => "resolved",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}
