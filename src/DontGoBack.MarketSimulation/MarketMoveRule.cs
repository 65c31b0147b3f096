using System.Security.Cryptography;
using System.Text;

namespace DontGoBack.MarketSimulation;

/// <summary>
/// The extension server's daily market move: multiplier = exp(μ + σZ) with μ = −σ²/2 so the
/// mean is 1, clamped to [1 − clamp, 1 + clamp]. Z is derived from (salt, user, day) so the
/// same user and day always get the same multiplier, across restarts and processes.
/// </summary>
public sealed class MarketMoveRule(string salt, double sigma = 0.02, double clamp = 0.05)
{
    private readonly byte[] _key = Encoding.UTF8.GetBytes(salt);

    public double MultiplierFor(long userId, DateOnly day)
    {
        var z = StandardNormalFor(userId, day);
        var mu = -sigma * sigma / 2;
        return Math.Clamp(Math.Exp(mu + sigma * z), 1 - clamp, 1 + clamp);
    }

    /// <summary>Whole KRW, rounded half away from zero, as the extension server reports it.</summary>
    public static long Apply(long amount, double multiplier) =>
        checked((long)Math.Round(amount * multiplier, MidpointRounding.AwayFromZero));

    private double StandardNormalFor(long userId, DateOnly day)
    {
        Span<byte> message = stackalloc byte[12];
        BitConverter.TryWriteBytes(message, userId);
        BitConverter.TryWriteBytes(message[8..], day.DayNumber);
        Span<byte> hash = stackalloc byte[32];
        HMACSHA256.HashData(_key, message, hash);

        // Box–Muller on two uniforms in (0, 1]; 53 bits each is the double's full precision.
        var u1 = ((BitConverter.ToUInt64(hash) >> 11) + 1) / (double)(1UL << 53);
        var u2 = ((BitConverter.ToUInt64(hash[8..]) >> 11) + 1) / (double)(1UL << 53);
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
