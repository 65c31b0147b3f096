using System.ComponentModel.DataAnnotations;
using DontGoBack.MarketSimulation;

namespace DontGoBack.CoreServer.InterServer.Extension;

public sealed class ExtensionOptions
{
    public const string SectionName = "Extension";

    /// <summary>Extension server base URL; empty means the in-process stand-in.</summary>
    [OptionalHttpUrl("Extension:BaseUrl")]
    public string? BaseUrl { get; set; }

    /// <summary>
    /// Requests in flight to the extension server at most: its connection limit (HTTP/1.1 carries
    /// one request per connection); further requests wait for a connection.
    /// </summary>
    [Range(1, 10_000)]
    public int MaxInFlight { get; set; } = 256;

    /// <summary>Requests per second to the extension server at most; 0 means no limit.</summary>
    [Range(0, 1_000_000)]
    public int MaxRequestsPerSecond { get; set; }

    /// <summary>
    /// Users per call of the bulk endpoint update-assets; 0 or 1 calls update-asset per user,
    /// as the original extension server needs. A server without the bulk endpoint (404/405)
    /// is detected and called per user from then on.
    /// </summary>
    [Range(0, 10_000)]
    public int BulkSize { get; set; }

    /// <summary>
    /// Bulk calls in flight at once, each carrying up to BulkSize users (AssetRefresh:MaxConcurrency
    /// bounds per-user calls). A few suffice to keep both ends busy, and each holds its users' answers in memory.
    /// </summary>
    [Range(1, 256)]
    public int BulkCallsInFlight { get; set; } = 4;

    [Range(0, 10)]
    public int MaxRetryAttempts { get; set; } = 3;

    /// <summary>
    /// Retry lines logged one by one per run (for a run's calls to this server), and for calls made for
    /// no run (a token fetch) while their retries keep coming (until a Batch:ProgressInterval passes
    /// without one); past it retries are only counted, in the summary logged every
    /// Batch:ProgressInterval, which names the run, and in the run's totals at its end. 0 logs summaries alone.
    /// </summary>
    [Range(0, 100_000, ErrorMessage = "Extension:RetryLogLimit must be between {1} and {2}.")]
    public int RetryLogLimit { get; set; } = 20;

    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Longest wait before a retry that a 429/503 answer's Retry-After may ask for; a longer one is
    /// cut to this, so a server cannot park a run for an hour.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Longest one call (a user's, or a bulk call's users') may take over all its attempts and the
    /// waits between them; then it is a transient failure of its users. At least AttemptTimeout.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan UserDeadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Most bytes a per-user answer may have: a normal one is about 250, and a long failure message
    /// still fits. A bigger answer is a permanent failure of the user, rejected by its Content-Length
    /// or once that many bytes arrived; with AssetRefresh:MaxConcurrency it bounds the memory answers can take.
    /// </summary>
    [Range(1_024, 64 * 1_024 * 1_024)]
    public int MaxAnswerBytes { get; set; } = 1_024 * 1_024;

    /// <summary>
    /// Most bytes a bulk answer may have (about 250 per user); a bigger one fails the users of that
    /// call permanently. With BulkCallsInFlight it bounds the memory bulk answers can take.
    /// </summary>
    [Range(1_024, 256 * 1_024 * 1_024)]
    public int MaxBulkAnswerBytes { get; set; } = 16 * 1_024 * 1_024;

    /// <summary>
    /// The contract's daily bound on the market move: a multiplier outside
    /// [1 − MaxDailyMove, 1 + MaxDailyMove] is an invalid answer.
    /// </summary>
    [Range(0.0001, 0.99)]
    public double MaxDailyMove { get; set; } = 0.05;


    /// <summary>Share of failed attempts over the sampling window that opens the circuit and stops the run.</summary>
    [Range(0.01, 1.0)]
    public double CircuitFailureRatio { get; set; } = 0.5;

    [Range(2, 100_000)]
    public int CircuitMinimumThroughput { get; set; } = 100;

    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan CircuitSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Settings of the in-process stand-in, used only when BaseUrl is empty.</summary>
    public SimulatorOptions Simulation { get; set; } = new();

    public bool UsesInProcessStandIn => string.IsNullOrWhiteSpace(BaseUrl);
}
