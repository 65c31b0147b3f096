using System.ComponentModel.DataAnnotations;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>
/// Proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed. Empty (the default):
/// forwarded headers are ignored and the client address is the connection's, so nobody can
/// claim to be loopback with a header.
/// </summary>
public sealed class ForwardedHeadersSettings : IValidatableObject
{
    public const string SectionName = "ForwardedHeaders";

    /// <summary>Addresses or CIDR networks of the reverse proxies in front of this server.</summary>
    public string[] TrustedProxies { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        TrustedProxies
            .Where(proxy => InternalAccessOptions.ParseNetwork(proxy) is null)
            .Select(proxy => new ValidationResult(
                $"ForwardedHeaders:TrustedProxies has '{proxy}', which is not an IP address or CIDR network.", [nameof(TrustedProxies)]));
}

/// <summary>Requests per client address to the public API (/api), as a token bucket.</summary>
public sealed class PublicRateLimitOptions
{
    public const string SectionName = "PublicRateLimit";

    public bool Enabled { get; set; } = true;

    /// <summary>Sustained requests per second one address may send.</summary>
    [Range(1, 1_000_000, ErrorMessage = "PublicRateLimit:PermitsPerSecond must be between {1} and {2}.")]
    public int PermitsPerSecond { get; set; } = 50;

    /// <summary>Requests one address may send at once before the sustained rate applies.</summary>
    [Range(1, 1_000_000, ErrorMessage = "PublicRateLimit:Burst must be between {1} and {2}.")]
    public int Burst { get; set; } = 100;
}
