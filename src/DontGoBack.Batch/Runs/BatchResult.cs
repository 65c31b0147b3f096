using System.Text.Json.Serialization;

namespace DontGoBack.Batch.Runs;

[JsonConverter(typeof(JsonStringEnumConverter<BatchRunStatus>))]
public enum BatchRunStatus
{
    /// <summary>An attempt holds the run's lease and is working on it.</summary>
    [JsonStringEnumMemberName("running")] Running,
    /// <summary>Every user was refreshed or already had the day's snapshot.</summary>
    [JsonStringEnumMemberName("completed")] Completed,
    /// <summary>The run went through all users, but some failed; a re-run retries only those.</summary>
    [JsonStringEnumMemberName("completed_with_failures")] CompletedWithFailures,
    /// <summary>The run stopped early (extension unreachable, credentials refused); what was written stays.</summary>
    [JsonStringEnumMemberName("failed")] Failed,
    /// <summary>Shut down, or the lease was lost, before the run was through; the next attempt resumes it.</summary>
    [JsonStringEnumMemberName("aborted")] Aborted,
    /// <summary>
    /// No id was due that day (every one it covered opens later): nothing was written and nothing is
    /// owed. The day is through, but it is not work done, so it is never shown as a success.
    /// </summary>
    [JsonStringEnumMemberName("nothing_to_do")] NothingToDo,
}

/// <summary>The outcome of one batch run for one day, as the trigger API and the CLI report it.</summary>
public sealed record BatchResult(
    DateOnly Day,
    BatchRunStatus Status,
    int Total,
    int Success,
    int Skipped,
    int Failed,
    long ElapsedMs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? RunId = null,
    /// <summary>1 for the day's first run; more for a continuation that processed only what was left.</summary>
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Attempt = null,
    /// <summary>Of the skipped, ids not due on the day (e.g. an account opened later): counted, never work.</summary>
    int NotDue = 0)
{
    // A property, not an optional parameter: the API description cannot write a struct's default as a parameter's default value.
    /// <summary>The job's own counts, e.g. the asset refresh's <c>{"rebasedDays":12,"rebasedUsers":3}</c>; <c>{}</c> when it has none.</summary>
    public BatchCounters Counters { get; init; }
}
