using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.InterServer.Extension;
using DontGoBack.CoreServer.Tests.Infrastructure;
using DontGoBack.MarketSimulation;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class SimulatedExtensionTests
{
    private static readonly DateOnly Day = new(2025, 8, 10);
    private static readonly double DefaultMaxDailyMove = new ExtensionOptions().MaxDailyMove;
    private readonly MarketMoveRule _rule = new(FakeExtensionServer.Salt);
    private readonly SimulatedExtension _extension;

    public SimulatedExtensionTests() => _extension = new SimulatedExtension(_rule);

    [Theory]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    [InlineData(null)]
    public void A_negative_or_missing_asset_is_a_400_saying_asset_must_be_non_negative(long? asset)
    {
        var answer = _extension.UpdateAsset(7, new UpdateAssetRequest(asset, Day));

        Assert.Equal(400, answer.StatusCode);
        Assert.Equal(new ApiResponse("F", "asset must be >= 0"), answer.Body);
    }

    [Fact]
    public void A_missing_snapshot_day_is_a_400()
    {
        var answer = _extension.UpdateAsset(7, new UpdateAssetRequest(1_000, null));

        Assert.Equal(400, answer.StatusCode);
        Assert.Equal(new ApiResponse("F", "snapshotDay is required"), answer.Body);
    }

    [Theory]
    [InlineData(7L, 10_000_000L)]
    [InlineData(8L, 0L)]
    [InlineData(123_456L, 987_654_321L)]
    public void A_valid_call_is_a_200_S_with_the_rule_amount(long userId, long asset)
    {
        var multiplier = _rule.MultiplierFor(userId, Day);

        var answer = _extension.UpdateAsset(userId, new UpdateAssetRequest(asset, Day));

        Assert.Equal(200, answer.StatusCode);
        Assert.Equal("S", answer.Body.ResultCode);
        Assert.Equal(new AssetUpdate(userId, asset, multiplier, MarketMoveRule.Apply(asset, multiplier), Day), answer.Body.Data);
    }

    [Fact]
    public void An_asset_whose_product_overflows_is_a_400_not_an_exception()
    {
        var userId = Enumerable.Range(1, 100).Select(i => (long)i).First(id => _rule.MultiplierFor(id, Day) > 1.0);

        var answer = _extension.UpdateAsset(userId, new UpdateAssetRequest(long.MaxValue, Day));

        Assert.Equal(400, answer.StatusCode);
        Assert.Equal(new ApiResponse("F", "asset too large"), answer.Body);
    }

    [Fact]
    public void Every_simulated_answer_passes_our_validation_with_the_same_amount()
    {
        // The stand-in and our validation must agree on the rounding, or every user would fail.
        long[] bases = [0, 1, 3, 999, 10_000_000, 123_456_789, 9_007_199_254_740_000];
        for (long userId = 1; userId <= 200; userId++)
        {
            foreach (var baseAmount in bases)
            {
                var day = Day.AddDays((int)(userId % 30));
                var body = _extension.UpdateAsset(userId, new UpdateAssetRequest(baseAmount, day)).Body;
                var data = body.Data!;
                var answer = new UpdateAssetAnswer(body.ResultCode, body.Message,
                    new UpdateAssetAnswerData(data.UserId, data.OriginalAsset, data.Multiplier, data.UpdatedAsset, data.Date));

                var outcome = ExtensionAnswerValidation.Validate(userId, baseAmount, day, DefaultMaxDailyMove, answer);

                Assert.Equal(new AssetUpdated(data.UpdatedAsset, data.Multiplier), outcome);
                Assert.Equal(AssetAmount.Apply(baseAmount, data.Multiplier), data.UpdatedAsset);
            }
        }
    }

    [Fact]
    public void A_stand_in_whose_moves_hit_the_clamp_stays_within_our_daily_bound()
    {
        // σ = 0.5 pushes most moves past ±5 %, so the clamp's edges are what gets answered: they
        // must pass the bound check however the floating point of 1 ± 0.05 comes out.
        var wild = new SimulatedExtension(new MarketMoveRule(FakeExtensionServer.Salt, sigma: 0.5, clamp: new SimulatorOptions().Clamp));
        var (low, high) = (0, 0);
        for (long userId = 1; userId <= 500; userId++)
        {
            var body = wild.UpdateAsset(userId, new UpdateAssetRequest(10_000_000, Day)).Body;
            var data = body.Data!;
            var answer = new UpdateAssetAnswer(body.ResultCode, body.Message,
                new UpdateAssetAnswerData(data.UserId, data.OriginalAsset, data.Multiplier, data.UpdatedAsset, data.Date));

            Assert.IsType<AssetUpdated>(ExtensionAnswerValidation.Validate(userId, 10_000_000, Day, DefaultMaxDailyMove, answer));
            low += data.Multiplier == 1 - DefaultMaxDailyMove ? 1 : 0;
            high += data.Multiplier == 1 + DefaultMaxDailyMove ? 1 : 0;
        }
        Assert.True(low > 50 && high > 50, $"clamped at the low edge {low} times, at the high edge {high} times");
    }
}
