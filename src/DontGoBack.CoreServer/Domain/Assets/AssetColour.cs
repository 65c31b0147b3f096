using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Domain.Assets;

[JsonConverter(typeof(JsonStringEnumConverter<AssetColour>))]
public enum AssetColour
{
    [JsonStringEnumMemberName("RED")]
    Red,

    [JsonStringEnumMemberName("BLUE")]
    Blue,
}

public sealed class AssetColourOptions
{
    public const string SectionName = "AssetColour";

    /// <summary>A market multiplier at or above this is BLUE; the original app uses 1.0 (no loss).</summary>
    [Range(0.5, 2.0)]
    public double BlueAtOrAbove { get; set; } = 1.0;
}

/// <summary>
/// Colours a snapshot or period by how the market moved the asset: BLUE when the multiplier reaches
/// <see cref="AssetColourOptions.BlueAtOrAbove"/>, RED otherwise.
/// Net flow (rewards and penalties) deliberately never enters: a reward must not paint a losing day BLUE,
/// nor a penalty a winning day RED, because the colour reports the market, not the balance.
/// </summary>
public sealed class AssetColourPolicy(IOptions<AssetColourOptions> options)
{
    /// <param name="multiplier">The market multiplier; null (no market move, e.g. an opening snapshot) counts as 1.0.</param>
    public AssetColour ForMarketMultiplier(double? multiplier) =>
        (multiplier ?? 1.0) >= options.Value.BlueAtOrAbove ? AssetColour.Blue : AssetColour.Red;
}
