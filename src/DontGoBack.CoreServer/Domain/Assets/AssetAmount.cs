namespace DontGoBack.CoreServer.Domain.Assets;

public static class AssetAmount
{
    /// <summary>updated = round(base × multiplier), half away from zero; null when it would not fit in KRW's long.</summary>
    public static long? Apply(long baseAmount, double multiplier)
    {
        var product = Math.Round(baseAmount * multiplier, MidpointRounding.AwayFromZero);
        return product is >= 0 and < long.MaxValue ? (long)product : null;
    }
}
