using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.MarketSimulation;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class MarketMoveRuleTests
{
    private const string Salt = FakeExtensionServer.Salt;
    private static readonly DateOnly FirstDay = new(2025, 1, 1);

    /// <summary>20,000 (user, day) pairs: 500 users × 40 consecutive days.</summary>
    private static IEnumerable<(long User, DateOnly Day)> Pairs() =>
        from user in Enumerable.Range(1, 500)
        from offset in Enumerable.Range(0, 40)
        select ((long)user, FirstDay.AddDays(offset));

    [Fact]
    public void The_same_salt_user_and_day_give_the_same_multiplier_across_instances()
    {
        var first = new MarketMoveRule(Salt);
        var second = new MarketMoveRule(Salt);

        foreach (var (user, day) in Pairs().Take(200))
            Assert.Equal(first.MultiplierFor(user, day), second.MultiplierFor(user, day));
        // And repeated calls on one instance agree too.
        Assert.Equal(first.MultiplierFor(7, FirstDay), first.MultiplierFor(7, FirstDay));
    }

    [Fact]
    public void A_different_salt_gives_different_multipliers()
    {
        var ours = new MarketMoveRule(Salt);
        var other = new MarketMoveRule(Salt + "-other");

        // Only a pair that clamps to the same bound under both salts could coincide
        // (about 0.01% per pair); these 200 pairs are fixed, so the count is fixed too.
        var same = Pairs().Take(200).Count(p => ours.MultiplierFor(p.User, p.Day) == other.MultiplierFor(p.User, p.Day));
        Assert.Equal(0, same);
    }

    [Fact]
    public void Different_users_and_days_get_different_multipliers()
    {
        var rule = new MarketMoveRule(Salt);

        Assert.NotEqual(rule.MultiplierFor(1, FirstDay), rule.MultiplierFor(2, FirstDay));
        Assert.NotEqual(rule.MultiplierFor(1, FirstDay), rule.MultiplierFor(1, FirstDay.AddDays(1)));
    }

    [Fact]
    public void Every_multiplier_is_within_the_clamp()
    {
        var rule = new MarketMoveRule(Salt);

        foreach (var (user, day) in Pairs())
            Assert.InRange(rule.MultiplierFor(user, day), 0.95, 1.05);
    }

    [Fact]
    public void A_large_sigma_is_clamped_to_exactly_the_bounds()
    {
        // σ = 1 puts most draws outside ±5%, so both bounds must be hit exactly.
        var wild = new MarketMoveRule(Salt, sigma: 1.0);
        var multipliers = Pairs().Take(1_000).Select(p => wild.MultiplierFor(p.User, p.Day)).ToList();

        Assert.All(multipliers, m => Assert.InRange(m, 0.95, 1.05));
        Assert.Contains(0.95, multipliers);
        Assert.Contains(1.05, multipliers);
    }

    [Fact]
    public void The_multipliers_have_mean_one_and_log_std_sigma()
    {
        var rule = new MarketMoveRule(Salt);
        var multipliers = Pairs().Select(p => rule.MultiplierFor(p.User, p.Day)).ToArray();
        var n = multipliers.Length;
        Assert.Equal(20_000, n);

        // ln m = −σ²/2 + σZ, clamped to [ln 0.95, ln 1.05] (about ±2.5σ). Integrating the clamped
        // normal numerically gives E[m] = 0.999982 and SD[m] = 0.019772, so the standard error of
        // the sample mean is 0.019772 / √20000 = 0.00014. The ±0.001 band is the clamp bias
        // (0.00002) plus 7 standard errors: a salt that failed it would be a 1-in-10^11 draw.
        // The rule is deterministic, so with this fixed salt the outcome is fixed anyway.
        var mean = multipliers.Average();
        Assert.InRange(mean, 1.0 - 0.001, 1.0 + 0.001);

        // SD[ln m] of the clamped normal is 0.019774 (the clamp shaves 0.00023 off σ = 0.02);
        // the sample SD's standard error is about σ/√(2n) = 0.02 / 200 = 0.0001. The ±0.001
        // band around 0.02 is that bias plus more than 7 standard errors.
        var logs = multipliers.Select(m => Math.Log(m)).ToArray();
        var logMean = logs.Average();
        var logStd = Math.Sqrt(logs.Sum(l => (l - logMean) * (l - logMean)) / (n - 1));
        Assert.InRange(logStd, 0.02 - 0.001, 0.02 + 0.001);

        // μ = −σ²/2 = −0.0002 is what makes the mean 1; the sample mean of ln m has a standard
        // error of 0.02 / √20000 = 0.00014, so ±0.001 around −0.0002 is again 7 standard errors.
        Assert.InRange(logMean, -0.0002 - 0.001, -0.0002 + 0.001);
    }

    [Theory]
    [InlineData(5L, 0.5, 3L)]
    [InlineData(1L, 0.5, 1L)]
    [InlineData(10_000_000L, 1.0123, 10_123_000L)]
    [InlineData(0L, 1.05, 0L)]
    public void Apply_rounds_half_away_from_zero(long amount, double multiplier, long expected) =>
        Assert.Equal(expected, MarketMoveRule.Apply(amount, multiplier));

    [Fact]
    public void Apply_throws_on_overflow() =>
        Assert.Throws<OverflowException>(() => MarketMoveRule.Apply(long.MaxValue, 1.05));
}
