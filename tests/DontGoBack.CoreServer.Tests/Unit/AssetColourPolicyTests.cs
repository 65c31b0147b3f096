using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using DontGoBack.CoreServer.Domain.Assets;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class AssetColourPolicyTests
{
    private static AssetColourPolicy Policy(double blueAtOrAbove = 1.0) =>
        new(Microsoft.Extensions.Options.Options.Create(new AssetColourOptions { BlueAtOrAbove = blueAtOrAbove }));

    [Theory]
    [InlineData(1.0, AssetColour.Blue)]
    [InlineData(1.05, AssetColour.Blue)]
    [InlineData(0.9999, AssetColour.Red)]
    [InlineData(0.5, AssetColour.Red)]
    public void By_default_a_multiplier_of_at_least_one_is_blue(double multiplier, AssetColour expected) =>
        Assert.Equal(expected, Policy().ForMarketMultiplier(multiplier));

    [Fact]
    public void No_market_move_counts_as_a_multiplier_of_one() =>
        Assert.Equal(AssetColour.Blue, Policy().ForMarketMultiplier(null));

    [Theory]
    [InlineData(1.01, AssetColour.Blue)]
    [InlineData(1.02, AssetColour.Blue)]
    [InlineData(1.005, AssetColour.Red)]
    [InlineData(1.0, AssetColour.Red)]
    [InlineData(null, AssetColour.Red)]
    public void The_threshold_is_configurable(double? multiplier, AssetColour expected) =>
        Assert.Equal(expected, Policy(blueAtOrAbove: 1.01).ForMarketMultiplier(multiplier));

    [Theory]
    [InlineData(AssetColour.Red, "\"RED\"")]
    [InlineData(AssetColour.Blue, "\"BLUE\"")]
    public void Colours_are_written_to_json_in_upper_case(AssetColour colour, string json)
    {
        Assert.Equal(json, JsonSerializer.Serialize(colour));
        Assert.Equal(colour, JsonSerializer.Deserialize<AssetColour>(json));
    }

    [Fact]
    public void A_colour_inside_a_record_is_written_in_upper_case_too()
    {
        var point = new AssetSeriesPoint(new DateOnly(2025, 1, 1), new DateOnly(2025, 1, 1), 1_000, AssetColour.Blue, 0, 1.0);

        Assert.Contains("\"Colour\":\"BLUE\"", JsonSerializer.Serialize(point));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(1.0)]
    [InlineData(2.0)]
    public void Thresholds_from_half_to_double_are_valid(double blueAtOrAbove) =>
        Assert.Empty(Validate(new AssetColourOptions { BlueAtOrAbove = blueAtOrAbove }));

    [Theory]
    [InlineData(0.49)]
    [InlineData(2.01)]
    [InlineData(0.0)]
    public void Thresholds_outside_half_to_double_are_rejected(double blueAtOrAbove)
    {
        var result = Assert.Single(Validate(new AssetColourOptions { BlueAtOrAbove = blueAtOrAbove }));

        Assert.Contains(nameof(AssetColourOptions.BlueAtOrAbove), result.MemberNames);
    }

    private static List<ValidationResult> Validate(AssetColourOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results;
    }
}
