using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.User;
using DontGoBack.Batch.Runs;

namespace DontGoBack.CoreServer.Tests.Unit;

/// <summary>The job registry: the one place a name is resolved to a job and an unknown one refused.</summary>
public sealed class BatchJobsTests
{
    private static readonly BatchJobs Jobs = new([
        new DailyJobSchedule<AssetRefreshJob>(AssetRefreshJob.Definition, () => new AssetRefreshOptions()),
        new DailyJobSchedule<UserDormancyJob>(UserDormancyJob.Definition, () => new UserDormancyOptions()),
    ]);

    [Theory]
    [InlineData("nope")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("Asset-Refresh")]
    public void An_unknown_name_is_refused_with_one_message_naming_the_registered_jobs(string? name)
    {
        var expected = $"there is no job '{name}'; the jobs are asset-refresh (some users only: asset-refresh-subset), user-dormancy";

        Assert.False(Jobs.TryFind(name, out var job, out var refusal));
        Assert.Null(job);
        Assert.Equal(expected, refusal);
        Assert.False(Jobs.TryFindRun(name, out job, out refusal));
        Assert.Null(job);
        Assert.Equal(expected, refusal);
        Assert.Equal(expected, Jobs.Unknown(name));
        Assert.Equal(expected, Assert.Throws<ArgumentException>(() => Jobs.Find(name)).Message.Split(" (Parameter")[0]);
    }

    [Fact]
    public void A_hostile_name_is_quoted_back_cleaned_and_cut()
    {
        var refusal = Jobs.Unknown("a\u0000b" + new string('x', 500));

        Assert.StartsWith("there is no job 'ab" + new string('x', BatchJobs.QuotedNameLength - 3) + "…'; the jobs are asset-refresh", refusal);
    }

    [Fact]
    public void A_subset_name_finds_its_job_as_a_run_name_but_is_no_job_of_its_own()
    {
        Assert.True(Jobs.TryFindRun(AssetRefreshJob.SubsetName, out var job, out var refusal));
        Assert.Null(refusal);
        Assert.Same(AssetRefreshJob.Definition, job.Definition);
        Assert.False(Jobs.TryFind(AssetRefreshJob.SubsetName, out _, out refusal));
        Assert.StartsWith($"there is no job '{AssetRefreshJob.SubsetName}'", refusal);

        Assert.True(Jobs.TryFind(UserDormancyJob.Name, out job, out _));
        Assert.Same(UserDormancyJob.Definition, job.Definition);
        Assert.Same(job, Jobs.Find(UserDormancyJob.Name));
        Assert.Equal(["asset-refresh", "user-dormancy"], Jobs.Names);
        Assert.Equal(["asset-refresh", "asset-refresh-subset", "user-dormancy"], Jobs.RunNames);
    }
}
