using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;
using static DontGoBack.CoreServer.Tests.Infrastructure.HostileExtensionServer;
using static DontGoBack.CoreServer.Tests.Integration.HostileExtensionTests;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>Runs alone: the process's allocation count is only evidence when nothing else allocates meanwhile.</summary>
[CollectionDefinition(nameof(HostileAnswerMemoryTests), DisableParallelization = true)]
public sealed class HostileAnswerMemoryCollection;

[Collection(nameof(HostileAnswerMemoryTests))]
public sealed class HostileAnswerMemoryTests
{
    private const long Offered = 200L << 20;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task An_endless_answer_is_cut_at_the_limit_and_memory_stays_far_below_what_was_offered(DatabaseProvider provider)
    {
        // Chunked, so no length to refuse up front: the limit must stop the reading itself.
        var outcome = await RunWithOneHostileUserAsync(provider, _ => Oversized(Offered), new()
        {
            ["Extension:MaxAnswerBytes"] = "65536",
        });

        AssertFailedAlone(outcome, FailureClass.Permanent, "invalid answer: answer larger than 65536 bytes");
        Assert.Equal(1, outcome.HostileCalls);
        // Reading 200 MB into memory would allocate at least that; the whole run, both ends of
        // the connection included, stays under a tenth of it.
        Assert.True(outcome.AllocatedDuringRun < Offered / 10, $"{outcome.AllocatedDuringRun:N0} bytes allocated during the run");
    }
}
