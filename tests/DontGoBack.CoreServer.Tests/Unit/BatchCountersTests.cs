using System.Text.Json;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Batch.User;
using DontGoBack.CoreServer.Cli;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Tests.Unit;

/// <summary>The engine's counters: a flat set of named counts it adds up, stores and reads back without knowing a name.</summary>
public sealed class BatchCountersTests
{
    [Fact]
    public void Counts_add_name_by_name_whatever_the_names()
    {
        var first = BatchCounters.From([KeyValuePair.Create("a", 2), KeyValuePair.Create("b", 1)]);
        var second = BatchCounters.From([KeyValuePair.Create("b", 3), KeyValuePair.Create("c", 4)]);

        var sum = BatchCounters.Sum([first, BatchCounters.None, second]);

        Assert.Equal(new Dictionary<string, int> { ["a"] = 2, ["b"] = 4, ["c"] = 4 }, sum.Counts);
        Assert.Equal(first, first.Add(BatchCounters.None));
        Assert.Equal(sum, second.Add(first));
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("{\"a\":1.5}")]
    [InlineData("{\"a\":{}}")]
    [InlineData("{\"a\":99999999999}")]
    [InlineData("{\"a\":")]
    public void Stored_text_that_is_no_flat_object_of_whole_numbers_reads_as_no_counts(string stored) =>
        Assert.True(BatchCounters.FromJson(stored).IsEmpty);

    [Fact]
    public void Counts_near_the_limit_add_up_to_the_limit_instead_of_failing_the_sum()
    {
        var large = BatchCounters.From([KeyValuePair.Create("a", int.MaxValue - 1)]);

        Assert.Equal(int.MaxValue, large.Add(large).Counts["a"]);
    }

    [Fact]
    public void A_job_record_converts_to_counts_and_back_and_zeros_are_no_count()
    {
        var counts = BatchCounters.Of(new AssetRefreshCounters(3, 12));

        Assert.Equal("""{"rebasedDays":12,"rebasedUsers":3}""", counts.ToJson());
        Assert.Equal(new AssetRefreshCounters(3, 12), BatchCounters.FromJson(counts.ToJson()).As<AssetRefreshCounters>());
        Assert.Null(BatchCounters.Of(new AssetRefreshCounters(0, 0)).ToJson());
        Assert.True(BatchCounters.FromJson(null).IsEmpty);
        Assert.Equal(new AssetRefreshCounters(0, 0), BatchCounters.None.As<AssetRefreshCounters>());
        // Partitions' counts summed read as the job's record summed.
        Assert.Equal(new AssetRefreshCounters(2, 5),
            BatchCounters.Of(new AssetRefreshCounters(1, 2)).Add(BatchCounters.Of(new AssetRefreshCounters(1, 3))).As<AssetRefreshCounters>());
    }

    [Fact]
    public void Outcomes_add_their_counters_and_results_carry_them_into_json()
    {
        var range = new BatchOutcome(10, 8, 2, 0, null, NotDue: 1, Counters: BatchCounters.Of(new AssetRefreshCounters(1, 4)));
        var sum = range.Add(range);

        var result = sum.ToResult(new DateOnly(2025, 8, 10), sum.Status, 5);

        Assert.Equal((2, new AssetRefreshCounters(2, 8)), (sum.NotDue, sum.Counters.As<AssetRefreshCounters>()));
        using var json = JsonDocument.Parse(JsonSerializer.Serialize(result, JsonSerializerOptions.Web));
        Assert.Equal(("2025-08-10", 2), (json.RootElement.GetProperty("day").GetString(), json.RootElement.GetProperty("notDue").GetInt32()));
        Assert.Equal("""{"rebasedDays":8,"rebasedUsers":2}""", json.RootElement.GetProperty("counters").GetRawText());
        Assert.Equal(result, JsonSerializer.Deserialize<BatchResult>(json.RootElement.GetRawText(), JsonSerializerOptions.Web));
    }

    [Fact]
    public void The_result_line_says_the_counters_in_the_jobs_words_and_a_job_without_any_says_nothing()
    {
        var rebased = new BatchResult(new DateOnly(2025, 8, 9), BatchRunStatus.Completed, 3, 1, 2, 0, 40)
        {
            Counters = BatchCounters.Of(new AssetRefreshCounters(1, 1)),
        };

        Assert.Equal("Asset refresh 2025-08-09: completed — total 3 active users, success 1, skipped 2, failed 0, re-based 1 later days of 1 users, 40 ms",
            ResultLines.Of(AssetRefreshJob.Definition, rebased));
        Assert.DoesNotContain("re-based", ResultLines.Of(AssetRefreshJob.Definition, rebased with { Counters = BatchCounters.None }));
        Assert.Null(UserDormancyJob.Definition.Describe(BatchCounters.From([KeyValuePair.Create("rebasedUsers", 1)])));
    }
}
