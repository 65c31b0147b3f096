using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace DontGoBack.MarketSimulation;

/// <summary>Issues and checks HS256 JWTs the way the auth server does, for the stand-in only.</summary>
public sealed class SimulatedTokenIssuer(SimulatorOptions options, TimeProvider time)
{
    private static readonly string Header = Base64Url.EncodeToString("""{"alg":"HS256","typ":"JWT"}"""u8);
    private readonly byte[] _key = Encoding.UTF8.GetBytes(options.SigningKey);

    public string? Issue(string? clientId, string? clientSecret)
    {
        if (clientId != options.ClientId || clientSecret != options.ClientSecret)
            return null;
        var expires = time.GetUtcNow().AddSeconds(options.TokenLifetimeSeconds).ToUnixTimeSeconds();
        var payload = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new { sub = clientId, exp = expires }));
        return $"{Header}.{payload}.{Sign($"{Header}.{payload}")}";
    }

    public bool IsValid(string? token)
    {
        var parts = token?.Split('.');
        if (parts is not { Length: 3 } || !CryptographicOperations.FixedTimeEquals(
                Encoding.ASCII.GetBytes(Sign($"{parts[0]}.{parts[1]}")), Encoding.ASCII.GetBytes(parts[2])))
            return false;
        try
        {
            using var payload = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]));
            return payload.RootElement.GetProperty("exp").GetInt64() > time.GetUtcNow().ToUnixTimeSeconds();
        }
        catch (Exception e) when (e is FormatException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }

    private string Sign(string signingInput) =>
        Base64Url.EncodeToString(HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(signingInput)));
}
