
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Tests.Unit;

/// <summary>
/// A reading's rate and ETA: <see cref="RunProgressCounts.Expected"/> is the work counted at the start (users to
/// process), and users skipped as done already are neither throughput nor work left.
/// </summary>
public sealed class RunProgressReaderTests
{
    private static readonly DateTimeOffset Start = new(2025, 8, 9, 18, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_continuation_skipping_what_is_done_is_rated_by_the_users_it_processed_and_its_eta_by_those_left()
    {
        // 600 users passed over as done, then 50 of the 200 to do (45 written, 5 failed) in 10 s.
        var view = RunProgressReader.Describe(new RunProgressCounts(Expected: 200, Seen: 650, Success: 45, Skipped: 600, Failed: 5),
            Start, Start.AddSeconds(10));

        Assert.Equal((5.0, Start.AddSeconds(10 + 30)), (view.UsersPerSecond, view.Eta));
        Assert.Equal((50, 25.0), (view.Processed, view.Percent));
    }

    [Fact]
    public void Before_it_processed_anyone_a_run_that_only_skipped_so_far_has_no_rate_and_no_eta()
    {
        var view = RunProgressReader.Describe(new RunProgressCounts(Expected: 200, Seen: 600, Success: 0, Skipped: 600, Failed: 0),
            Start, Start.AddSeconds(2));

        Assert.Equal((0.0, (DateTimeOffset?)null), (view.UsersPerSecond, view.Eta));
    }

    [Fact]
    public void A_run_with_nothing_to_do_is_through_as_it_reads_and_shows_no_throughput()
    {
        var view = RunProgressReader.Describe(new RunProgressCounts(Expected: 0, Seen: 850, Success: 0, Skipped: 850, Failed: 0),
            Start, Start.AddSeconds(1));

        Assert.Equal((0.0, (DateTimeOffset?)Start.AddSeconds(1), 100.0), (view.UsersPerSecond, view.Eta, view.Percent));
    }

    [Fact]
    public void A_run_that_has_not_counted_its_work_yet_shows_no_eta_and_no_progress()
    {
        var view = RunProgressReader.Describe(new RunProgressCounts(0, 0, 0, 0, 0), Start, Start.AddSeconds(1));

        Assert.Equal(((DateTimeOffset?)null, 0.0), (view.Eta, view.Percent));
    }

    [Fact]
    public void An_attempt_that_wrote_nothing_and_failed_nothing_found_nothing_to_do_and_has_no_rate()
    {
        var passedOver = new BatchRunAttempt
        {
            Status = BatchRunStatus.Completed, StartedAt = Start, UpdatedAt = Start.AddSeconds(0.01), FinishedAt = Start.AddSeconds(0.01), Total = 850,
            Skipped = 850,
        };
        var worked = new BatchRunAttempt
        {
            Status = BatchRunStatus.Completed, StartedAt = Start, UpdatedAt = Start.AddSeconds(10), FinishedAt = Start.AddSeconds(10), Expected = 20,
            Total = 870, Success = 20, Skipped = 850,
        };
        // Stopped before it wrote anything: that is not a pass that found all done.
        var stopped = new BatchRunAttempt { Status = BatchRunStatus.Failed, StartedAt = Start, UpdatedAt = Start.AddSeconds(1), Total = 300, Skipped = 300 };

        Assert.Equal((true, (double?)null), (passedOver.FoundNothingToDo, passedOver.UsersPerSecond));
        Assert.Equal((false, (double?)2.0), (worked.FoundNothingToDo, worked.UsersPerSecond));
        Assert.Equal((false, (double?)0.0), (stopped.FoundNothingToDo, stopped.UsersPerSecond));
    }
}
