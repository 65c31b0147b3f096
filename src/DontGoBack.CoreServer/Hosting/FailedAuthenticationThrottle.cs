using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Hosting;

/// <summary>How many wrong admin tokens one client address may send before its attempts are refused.</summary>
public sealed class FailedAuthenticationOptions
{
    public const string SectionName = "InternalAccess:FailedAuthentication";

    /// <summary>Wrong tokens an address may send in a row before it must wait.</summary>
    [Range(1, 1000, ErrorMessage = "InternalAccess:FailedAuthentication:Burst must be between {1} and {2}.")]
    public int Burst { get; set; } = 5;

    /// <summary>After the burst, one more attempt per this interval (the default allows 3 guesses a minute).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "InternalAccess:FailedAuthentication:Interval must be between {1} and {2}.")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Addresses remembered at once (about 100 bytes each). Past it, addresses not seen before share
    /// one allowance, so a flood from many addresses neither grows memory nor escapes the throttle.
    /// </summary>
    [Range(100, 1_000_000, ErrorMessage = "InternalAccess:FailedAuthentication:MaxTrackedAddresses must be between {1} and {2}.")]
    public int MaxTrackedAddresses { get; set; } = 10_000;
}

/// <summary>
/// Throttles failed authentication per client address, as a generic cell rate: each wrong token
/// moves the address's "allowed again at" time on by one interval, and an address more than a
/// burst ahead of the clock is refused (429) until it is not. While refused, an address's attempts
/// are not checked at all, so a correct token from it is refused too (an answer would tell a
/// guesser it had won); other addresses are unaffected. IPv6 addresses count by their /64, the
/// block one subscriber holds.
/// </summary>
public sealed partial class FailedAuthenticationThrottle(
    IOptions<FailedAuthenticationOptions> options, TimeProvider time, ILogger<FailedAuthenticationThrottle> logger)
{
    private const string OverflowKey = "(addresses past InternalAccess:FailedAuthentication:MaxTrackedAddresses)";

    private readonly Lock _lock = new();
    private readonly Dictionary<string, DateTimeOffset> _allowedAgainAt = new(StringComparer.Ordinal);

    /// <summary>How long the address must wait before its next attempt is checked; null: it may try now. Looks, charges nothing (the tests observe the throttle with it).</summary>
    internal TimeSpan? RefusedFor(IPAddress? address)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            return _allowedAgainAt.TryGetValue(EntryOf(KeyOf(address), now), out var at) && Wait(at, now) is { } wait ? wait : null;
        }
    }

    /// <summary>
    /// Lets the address try a token, charged as a failure before the token is checked (refunded by
    /// <see cref="Forgive"/> when it was right): checking first and counting after would let a burst of
    /// parallel attempts (a thousand sign-in posts whose bodies arrive together) all pass the check.
    /// </summary>
    /// <returns>Null when it may try now; otherwise how long it must wait, and nothing was charged.</returns>
    public TimeSpan? TryBeginAttempt(IPAddress? address)
    {
        var now = time.GetUtcNow();
        string key;
        TimeSpan? refusedNow;
        lock (_lock)
        {
            key = EntryOf(KeyOf(address), now);
            if (_allowedAgainAt.TryGetValue(key, out var at) && Wait(at, now) is { } wait)
                return wait;
            refusedNow = ChargeLocked(key, now);
        }
        if (refusedNow is { } refused)
            LogRefusing(logger, key, options.Value.Burst, (int)Math.Ceiling(refused.TotalSeconds));
        return null;
    }

    /// <summary>Gives back the charge of an attempt whose token was right.</summary>
    public void Forgive(IPAddress? address)
    {
        lock (_lock)
        {
            var key = KeyOf(address);
            if (_allowedAgainAt.TryGetValue(key, out var at))
                _allowedAgainAt[key] = at - options.Value.Interval;
        }
    }

    /// <summary>Counts a wrong token from the address; logs once when this failure uses up its burst. The server charges through <see cref="TryBeginAttempt"/>; the tests count failures with this.</summary>
    internal void RecordFailure(IPAddress? address)
    {
        var now = time.GetUtcNow();
        string key;
        TimeSpan? refusedNow;
        lock (_lock)
        {
            key = EntryOf(KeyOf(address), now);
            refusedNow = ChargeLocked(key, now);
        }
        if (refusedNow is { } wait)
            LogRefusing(logger, key, options.Value.Burst, (int)Math.Ceiling(wait.TotalSeconds));
    }

    /// <summary>Moves the entry's time on by one interval; how long it is refused if this charge used up its burst.</summary>
    private TimeSpan? ChargeLocked(string key, DateTimeOffset now)
    {
        var interval = options.Value.Interval;
        var at = _allowedAgainAt.TryGetValue(key, out var previous) && previous > now ? previous : now;
        // Refused attempts are not recorded, but the shared entry may take failures of many addresses
        // at once: no address waits longer than one interval past its burst.
        _allowedAgainAt[key] = Min(at + interval, now + options.Value.Burst * interval);
        return Wait(at, now) is null ? Wait(at + interval, now) : null;
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    /// <summary>The address's own entry, or the shared one when it has none and there is no room for one.</summary>
    private string EntryOf(string key, DateTimeOffset now)
    {
        if (_allowedAgainAt.ContainsKey(key) || _allowedAgainAt.Count < options.Value.MaxTrackedAddresses)
            return key;
        Forget(now);
        return _allowedAgainAt.Count < options.Value.MaxTrackedAddresses ? key : OverflowKey;
    }

    /// <summary>Addresses remembered now (for the tests of the bound).</summary>
    internal int TrackedAddresses
    {
        get
        {
            lock (_lock)
                return _allowedAgainAt.Count;
        }
    }

    /// <summary>How far past the burst the address is; null when within it.</summary>
    private TimeSpan? Wait(DateTimeOffset allowedAgainAt, DateTimeOffset now)
    {
        var ahead = allowedAgainAt - now - (options.Value.Burst - 1) * options.Value.Interval;
        return ahead > TimeSpan.Zero ? ahead : null;
    }

    /// <summary>Addresses whose failures have all been paid back are as good as new: they need no entry.</summary>
    private void Forget(DateTimeOffset now)
    {
        foreach (var (key, at) in _allowedAgainAt)
        {
            if (at <= now)
                _allowedAgainAt.Remove(key);
        }
    }

    private static string KeyOf(IPAddress? address)
    {
        if (address is null)
            return "unknown";
        if (address.IsIPv4MappedToIPv6)
            return address.MapToIPv4().ToString();
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
            return address.ToString();
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    [LoggerMessage(LogLevel.Warning, "Failed authentication: {Address} sent {Burst} wrong admin tokens; its attempts are refused for {Seconds} s (logged once per burst)")]
    private static partial void LogRefusing(ILogger logger, string address, int burst, int seconds);
}
