using System.Globalization;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>
/// Writes a KRW amount the short way the original Korean app shows it: the largest of 원, 만, 억, 조 that fits,
/// with one truncated decimal while the value in that unit is below 10.
/// </summary>
/// <example>
/// <code>
/// AssetNickname.Format(150_000_000)  // "1.5억"
/// AssetNickname.Format(199_999_999)  // "1.9억" (truncated, never rounded up)
/// AssetNickname.Format(12_345_678)   // "1234만"
/// </code>
/// </example>
public static class AssetNickname
{
    private const long Man = 10_000L;
    private const long Eok = 100_000_000L;
    private const long Jo = 1_000_000_000_000L;

    public static string Format(long amount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amount);

        var (unit, suffix) = amount switch
        {
            >= Jo => (Jo, "조"),
            >= Eok => (Eok, "억"),
            >= Man => (Man, "만"),
            _ => (1L, "원"),
        };

        // Integer arithmetic only: going through double would round near the unit edges
        // (and lose precision altogether above 2^53), and the app truncates.
        var whole = amount / unit;
        var tenths = unit == 1 || whole >= 10 ? 0 : amount % unit / (unit / 10);

        return tenths == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{whole}{suffix}")
            : string.Create(CultureInfo.InvariantCulture, $"{whole}.{tenths}{suffix}");
    }
}
