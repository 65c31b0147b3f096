using DontGoBack.CoreServer.Cli;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Tests.Unit;

/// <summary>What the CLI's bar and progress lines say of a run: the users it had to process, the skipped said apart.</summary>
public sealed class CommandProgressReadingTests
{
    private static readonly DateTimeOffset Start = new(2025, 8, 9, 18, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_continuation_shows_the_users_it_processed_of_those_to_do_with_the_skipped_apart_and_an_eta_for_the_rest()
    {
        // 72 users passed over as done, then 6 of the 24 to do in 6 s.
        var reading = new ProgressReading("Asset refresh 2025-08-10", null,
            RunProgressReader.Describe(new RunProgressCounts(Expected: 24, Seen: 78, Success: 6, Skipped: 72, Failed: 0), Start, Start.AddSeconds(6)));

        Assert.Equal(("6 of 24 users (72 skipped)", 25, "1 users/s", "ETA 18 s"), (reading.CountText, reading.Percent, reading.RateText, reading.EtaText));
    }
}
