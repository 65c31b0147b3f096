namespace DontGoBack.CoreServer.Batch.Common;

public sealed record BatchRunFailure(long UserId, string FailureClass, string Reason, int Attempts, DateTimeOffset FailedAt);

public sealed record BatchRunFailurePage(int Page, int PageSize, int TotalCount, IReadOnlyList<BatchRunFailure> Items);

/// <summary>A domain batch's per-user failures of a day, so the run history can show them whatever the domain.</summary>
public interface IBatchRunFailures
{
    string JobName { get; }

    Task<BatchRunFailurePage> PageAsync(DateOnly day, int page, int pageSize, CancellationToken cancellationToken);
}
