using System.ComponentModel.DataAnnotations;

namespace DontGoBack.MarketSimulation;

public sealed class SimulatorOptions
{
    public const string SectionName = "Simulator";

    /// <summary>Secret salt of the deterministic market move; change it and every multiplier changes.</summary>
    [Required(AllowEmptyStrings = false)]
    public string Salt { get; set; } = "dontgoback-market";

    [Range(0.0, 1.0)]
    public double Sigma { get; set; } = 0.02;

    [Range(0.0, 0.99)]
    public double Clamp { get; set; } = 0.05;

    [Required(AllowEmptyStrings = false)]
    public string ClientId { get; set; } = "core";

    [Required(AllowEmptyStrings = false)]
    public string ClientSecret { get; set; } = "local-core-secret";

    /// <summary>HMAC key of the issued tokens.</summary>
    [Required(AllowEmptyStrings = false), MinLength(16)]
    public string SigningKey { get; set; } = "local-simulator-signing-key";

    [Range(1, 86_400)]
    public int TokenLifetimeSeconds { get; set; } = 300;

    /// <summary>Users per bulk update-assets call at most.</summary>
    [Range(1, 100_000)]
    public int MaxBulkItems { get; set; } = SimulatedExtension.DefaultMaxBulkItems;

    /// <summary>Count calls per user too (memory grows with the users), for tests that check each user was asked once.</summary>
    public bool TrackUsers { get; set; }

    /// <summary>Extra delay before each answer, to model a remote server.</summary>
    [Range(0, 60_000)]
    public int AddedLatencyMs { get; set; }

    /// <summary>Share of update calls answered with 500, for load tests.</summary>
    [Range(0.0, 1.0)]
    public double ErrorRate { get; set; }
}
