using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.InterServer.Extension;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class ExtensionAnswerValidationTests
{
    private const long UserId = 42;
    private const long Base = 10_000_000;
    private const double Multiplier = 1.0123;
    private const long Expected = 10_123_000; // round(10,000,000 × 1.0123)
    private const double MaxDailyMove = 0.05;
    private static readonly DateOnly Day = new(2025, 8, 10);

    private static UpdateAssetOutcome Validate(long baseAmount, UpdateAssetAnswer answer) =>
        ExtensionAnswerValidation.Validate(UserId, baseAmount, Day, MaxDailyMove, answer);

    private static UpdateAssetAnswer Valid() =>
        new("S", "Update asset success", new UpdateAssetAnswerData(UserId, Base, Multiplier, Expected, Day));

    private static UpdateAssetAnswer WithData(Func<UpdateAssetAnswerData, UpdateAssetAnswerData> change)
    {
        var valid = Valid();
        return valid with { Data = change(valid.Data!) };
    }

    private static string AssertPermanentFailure(UpdateAssetAnswer answer, long baseAmount = Base)
    {
        var outcome = Validate(baseAmount, answer);
        var failed = Assert.IsType<AssetUpdateFailed>(outcome);
        Assert.Equal(FailureClass.Permanent, failed.Class);
        Assert.StartsWith("invalid answer: ", failed.Reason);
        return failed.Reason;
    }

    [Fact]
    public void A_valid_answer_is_stored_as_round_of_base_times_multiplier()
    {
        var outcome = Validate(Base, Valid());

        Assert.Equal(new AssetUpdated(Expected, Multiplier), outcome);
    }

    [Fact]
    public void Any_result_code_starting_with_S_is_a_success() =>
        Assert.IsType<AssetUpdated>(Validate(Base, Valid() with { ResultCode = "SUCCESS" }));

    [Fact]
    public void Result_code_F_in_an_HTTP_200_answer_is_a_permanent_failure_with_its_message()
    {
        // An HTTP-200 body can still say "F"; the data, even if present, must not be used.
        var reason = AssertPermanentFailure(Valid() with { ResultCode = "F", Message = "asset must be >= 0" });

        Assert.Contains("result code 'F'", reason);
        Assert.Contains("asset must be >= 0", reason);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("X")]
    [InlineData("OK")]
    [InlineData("s")]
    [InlineData(" S")]
    public void A_result_code_not_starting_with_S_is_a_permanent_failure(string? resultCode)
    {
        var reason = AssertPermanentFailure(Valid() with { ResultCode = resultCode });

        Assert.Contains($"result code '{resultCode}'", reason);
    }

    [Fact]
    public void A_success_without_data_is_a_permanent_failure() =>
        Assert.Contains("no data", AssertPermanentFailure(Valid() with { Data = null }));

    [Theory]
    [InlineData(43L)]
    [InlineData(0L)]
    [InlineData(null)]
    public void An_answer_for_another_user_is_a_permanent_failure(long? answeredUser)
    {
        var reason = AssertPermanentFailure(WithData(d => d with { UserId = answeredUser }));

        Assert.Contains($"user {answeredUser}", reason);
        Assert.Contains($"not {UserId}", reason);
    }

    [Fact]
    public void An_answer_for_another_day_is_a_permanent_failure()
    {
        var reason = AssertPermanentFailure(WithData(d => d with { Date = Day.AddDays(-1) }));

        Assert.Contains("day", reason);
        Assert.Contains("2025-08-10", reason);
    }

    [Fact]
    public void An_answer_without_a_day_is_a_permanent_failure() =>
        Assert.Contains("day", AssertPermanentFailure(WithData(d => d with { Date = null })));

    [Theory]
    [InlineData(9_999_999L)]
    [InlineData(10_000_001L)]
    [InlineData(0L)]
    [InlineData(null)]
    public void An_original_asset_other_than_the_base_sent_is_a_permanent_failure(long? originalAsset)
    {
        var reason = AssertPermanentFailure(WithData(d => d with { OriginalAsset = originalAsset }));

        Assert.Contains("original asset", reason);
        Assert.Contains($"base {Base}", reason);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    [InlineData(0.0)]
    [InlineData(-1.01)]
    [InlineData(null)]
    public void A_multiplier_that_is_not_finite_and_positive_is_a_permanent_failure(double? multiplier)
    {
        var reason = AssertPermanentFailure(WithData(d => d with { Multiplier = multiplier }));

        Assert.Contains("multiplier", reason);
        Assert.Contains("not finite and positive", reason);
    }

    [Fact]
    public void A_negative_zero_multiplier_is_a_permanent_failure() =>
        Assert.Contains("not finite and positive", AssertPermanentFailure(WithData(d => d with { Multiplier = -0.0 })));

    [Theory]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    [InlineData(null)]
    public void An_updated_asset_that_is_negative_or_missing_is_a_permanent_failure(long? updatedAsset)
    {
        var reason = AssertPermanentFailure(WithData(d => d with { UpdatedAsset = updatedAsset }));

        Assert.Contains($"updated asset {updatedAsset} is not >= 0", reason);
    }

    [Theory]
    [InlineData(Expected + 2)]
    [InlineData(Expected - 2)]
    [InlineData(Base)]
    [InlineData(0L)]
    [InlineData(long.MaxValue)]
    public void An_updated_asset_off_by_more_than_one_won_is_a_permanent_failure(long updatedAsset)
    {
        var reason = AssertPermanentFailure(WithData(d => d with { UpdatedAsset = updatedAsset }));

        Assert.Contains($"updated asset {updatedAsset}", reason);
        Assert.Contains($"= {Expected}", reason);
    }

    [Theory]
    [InlineData(Expected + 1)]
    [InlineData(Expected - 1)]
    public void An_updated_asset_off_by_exactly_one_won_is_accepted_and_the_stored_amount_is_ours(long updatedAsset)
    {
        var outcome = Validate(Base, WithData(d => d with { UpdatedAsset = updatedAsset }));

        Assert.Equal(new AssetUpdated(Expected, Multiplier), outcome);
    }

    [Fact]
    public void A_half_won_product_rounded_half_to_even_by_the_server_is_accepted_with_our_rounding()
    {
        // 48 × 0.96875 = 46.5 exactly: the server may say 46 (half to even); we store 47 (half away from zero).
        var answer = new UpdateAssetAnswer("S", "ok", new UpdateAssetAnswerData(UserId, 48, 0.96875, 46, Day));

        Assert.Equal(new AssetUpdated(47, 0.96875), Validate(48, answer));
    }

    [Fact]
    public void A_product_that_overflows_a_long_is_a_permanent_failure()
    {
        const long hugeBase = long.MaxValue - 10;
        var answer = new UpdateAssetAnswer("S", "ok", new UpdateAssetAnswerData(UserId, hugeBase, 1.01, long.MaxValue, Day));

        var reason = AssertPermanentFailure(answer, hugeBase);

        Assert.Contains("does not fit", reason);
    }

    [Theory]
    [InlineData(1.2)]
    [InlineData(0.9)]
    [InlineData(1.0500001)]
    [InlineData(0.9499999)]
    [InlineData(2.0)]
    public void A_multiplier_outside_the_daily_bound_is_a_permanent_failure(double multiplier)
    {
        var updated = (long)Math.Round(Base * multiplier, MidpointRounding.AwayFromZero);
        var reason = AssertPermanentFailure(WithData(d => d with { Multiplier = multiplier, UpdatedAsset = updated }));

        Assert.Contains($"multiplier {multiplier.ToString(System.Globalization.CultureInfo.InvariantCulture)} is outside the daily bound [0.95, 1.05]", reason);
    }

    [Theory]
    [InlineData(0.95)]
    [InlineData(1.05)]
    [InlineData(1.0)]
    public void A_multiplier_on_the_edges_of_the_daily_bound_is_accepted(double multiplier)
    {
        var updated = (long)Math.Round(Base * multiplier, MidpointRounding.AwayFromZero);

        Assert.Equal(new AssetUpdated(updated, multiplier), Validate(Base, WithData(d => d with { Multiplier = multiplier, UpdatedAsset = updated })));
    }

    [Fact]
    public void The_daily_bound_is_the_configured_one()
    {
        var answer = WithData(d => d with { Multiplier = 1.08, UpdatedAsset = 10_800_000 });

        Assert.IsType<AssetUpdateFailed>(Validate(Base, answer));
        Assert.Equal(new AssetUpdated(10_800_000, 1.08), ExtensionAnswerValidation.Validate(UserId, Base, Day, 0.1, answer));
    }
}
