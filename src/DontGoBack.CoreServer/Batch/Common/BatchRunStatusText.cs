namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>
/// The one spelling of a run status wherever people or programs read it: JSON answers, logs, the
/// CLI's result line and its `runs` table all say `completed_with_failures`, never `CompletedWithFailures`.
/// </summary>
public static class BatchRunStatusText
{
    /// <summary>The same text as the JSON converter on <see cref="BatchRunStatus"/> writes.</summary>
    public static string ToText(this BatchRunStatus status) => status switch
    {
        BatchRunStatus.Running => "running",
        BatchRunStatus.Completed => "completed",
        BatchRunStatus.CompletedWithFailures => "completed_with_failures",
        BatchRunStatus.Failed => "failed",
        BatchRunStatus.Aborted => "aborted",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };
}
