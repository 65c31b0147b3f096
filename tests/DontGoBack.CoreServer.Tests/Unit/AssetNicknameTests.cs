using System.Globalization;
using DontGoBack.CoreServer.Domain.Assets;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class AssetNicknameTests
{
    [Theory]
    [InlineData(0L, "0원")]
    [InlineData(5L, "5원")]
    [InlineData(9_999L, "9999원")]
    public void Amounts_below_ten_thousand_are_whole_won(long amount, string expected) =>
        Assert.Equal(expected, AssetNickname.Format(amount));

    [Theory]
    [InlineData(10_000L, "1만")]
    [InlineData(99_999L, "9.9만")]
    [InlineData(100_000L, "10만")]
    [InlineData(99_999_999L, "9999만")]
    [InlineData(100_000_000L, "1억")]
    [InlineData(999_999_999_999L, "9999억")]
    [InlineData(1_000_000_000_000L, "1조")]
    [InlineData(long.MaxValue, "9223372조")]
    public void Each_unit_starts_exactly_at_its_boundary(long amount, string expected) =>
        Assert.Equal(expected, AssetNickname.Format(amount));

    [Theory]
    [InlineData(15_000L, "1.5만")]
    [InlineData(150_000_000L, "1.5억")]
    [InlineData(2_300_000_000_000L, "2.3조")]
    public void Below_ten_of_the_unit_one_decimal_is_shown(long amount, string expected) =>
        Assert.Equal(expected, AssetNickname.Format(amount));

    [Theory]
    [InlineData(10_999L, "1만")]
    [InlineData(100_000_001L, "1억")]
    [InlineData(1_099_999_999_999L, "1조")]
    public void A_decimal_that_truncates_to_zero_is_dropped(long amount, string expected) =>
        Assert.Equal(expected, AssetNickname.Format(amount));

    [Theory]
    [InlineData(19_999L, "1.9만")]
    [InlineData(199_999_999L, "1.9억")]
    [InlineData(1_999_999_999_999L, "1.9조")]
    [InlineData(12_345_678L, "1234만")]
    [InlineData(1_999_999_999L, "19억")]
    [InlineData(9_999_999_999_999L, "9.9조")]
    public void Values_are_truncated_never_rounded(long amount, string expected) =>
        Assert.Equal(expected, AssetNickname.Format(amount));

    [Fact]
    public void The_format_does_not_depend_on_the_current_culture()
    {
        var original = CultureInfo.CurrentCulture;
        try
        {
            // German writes a decimal comma and groups with dots.
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
            Assert.Equal("1.5억", AssetNickname.Format(150_000_000));
            Assert.Equal("9223372조", AssetNickname.Format(long.MaxValue));
        }
        finally
        {
            CultureInfo.CurrentCulture = original;
        }
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    public void A_negative_amount_is_rejected(long amount) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => AssetNickname.Format(amount));
}
