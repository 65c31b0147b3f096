using DontGoBack.CoreServer.Domain.Assets;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class AssetAmountTests
{
    [Theory]
    // Exact binary halves: banker's rounding would give 0, 2, 4 and 8 instead.
    [InlineData(1L, 0.5, 1L)]
    [InlineData(5L, 0.5, 3L)]
    [InlineData(9L, 0.5, 5L)]
    [InlineData(17L, 0.5, 9L)]
    [InlineData(3L, 0.5, 2L)]
    [InlineData(1L, 2.5, 3L)]
    public void Halves_round_away_from_zero(long baseAmount, double multiplier, long expected) =>
        Assert.Equal(expected, AssetAmount.Apply(baseAmount, multiplier));

    [Theory]
    [InlineData(10_000_000L, 1.0123, 10_123_000L)]
    [InlineData(10_000_000L, 0.95, 9_500_000L)]
    [InlineData(1_000L, 1.0004, 1_000L)]
    [InlineData(1_000L, 1.0006, 1_001L)]
    public void Other_products_round_to_the_nearest_won(long baseAmount, double multiplier, long expected) =>
        Assert.Equal(expected, AssetAmount.Apply(baseAmount, multiplier));

    [Theory]
    [InlineData(0.95)]
    [InlineData(1.0)]
    [InlineData(1.05)]
    public void A_zero_base_stays_zero(double multiplier) =>
        Assert.Equal(0L, AssetAmount.Apply(0, multiplier));

    [Theory]
    [InlineData(long.MaxValue, 1.05)]
    [InlineData(long.MaxValue / 2, 3.0)]
    [InlineData(4_611_686_018_427_387_904L, 2.0)] // exactly 2^63, one past long.MaxValue
    public void A_product_that_does_not_fit_in_a_long_is_null(long baseAmount, double multiplier) =>
        Assert.Null(AssetAmount.Apply(baseAmount, multiplier));

    [Fact]
    public void The_largest_products_below_2_pow_63_still_fit()
    {
        // 2^62 × 1.5 = 6.9e18 is well inside the range and exactly representable.
        Assert.Equal(6_917_529_027_641_081_856L, AssetAmount.Apply(4_611_686_018_427_387_904L, 1.5));
    }
}
