using DontGoBack.Batch.Alerts;
using DontGoBack.Batch.Operations;
using DontGoBack.Batch.Schedule;

namespace DontGoBack.Batch.Runs;

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
        BatchRunStatus.NothingToDo => "nothing_to_do",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    /// <summary>Whether a run that ended so went through: the schedule owes the day no more (nothing to do included).</summary>
    public static bool IsThrough(this BatchRunStatus status) =>
        status is BatchRunStatus.Completed or BatchRunStatus.CompletedWithFailures or BatchRunStatus.NothingToDo;
}
