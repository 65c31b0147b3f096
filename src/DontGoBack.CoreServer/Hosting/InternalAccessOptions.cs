using System.ComponentModel.DataAnnotations;
using System.Net;

namespace DontGoBack.CoreServer.Hosting;

public sealed class InternalAccessOptions : IValidatableObject
{
    public const string SectionName = "InternalAccess";

    /// <summary>Loopback only: who may call /internal endpoints when nothing is configured.</summary>
    public static readonly IReadOnlyList<string> DefaultNetworks = ["127.0.0.0/8", "::1/128"];

    /// <summary>
    /// Addresses or CIDR networks allowed to call /internal endpoints; when set, they replace
    /// <see cref="DefaultNetworks"/>. Empty by default on purpose: the configuration binder appends
    /// configured items to an initialised array, which would keep loopback allowed for good.
    /// </summary>
    public string[] AllowedNetworks { get; set; } = [];

    public IReadOnlyList<string> EffectiveNetworks => AllowedNetworks.Length > 0 ? AllowedNetworks : DefaultNetworks;

    /// <summary>
    /// Host names by which /internal may be reached, besides IP addresses and localhost (a name a browser
    /// was sent to by DNS rebinding is refused). Empty by default; the binder appends to an initialised array.
    /// </summary>
    public string[] Hosts { get; set; } = [];

    /// <summary>When set, callers must also send it in the X-Admin-Token header (or, in a browser, sign in to the console with it).</summary>
    public string? AdminToken { get; set; }

    /// <summary>How long a console sign-in (its cookie) lasts.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00", ErrorMessage = "InternalAccess:ConsoleSessionLifetime must be between {1} and {2}.")]
    public TimeSpan ConsoleSessionLifetime { get; set; } = TimeSpan.FromHours(12);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var network in AllowedNetworks.Where(network => ParseNetwork(network) is null))
        {
            yield return new ValidationResult(
                $"InternalAccess:AllowedNetworks has '{network}', which is not an IP address or CIDR network.", [nameof(AllowedNetworks)]);
        }
        foreach (var host in Hosts.Where(host => Uri.CheckHostName(host) != UriHostNameType.Dns))
        {
            yield return new ValidationResult(
                $"InternalAccess:Hosts has '{host}', which is not a host name (no scheme, port or wildcard; addresses need no entry).", [nameof(Hosts)]);
        }
        // A header value is printable ASCII, its outer blanks dropped in transit: a token with a secret
        // file's trailing newline, outer blanks or other characters matches no header ever sent, so
        // every caller would be refused (and counted as a guesser). The token itself is not echoed.
        if (AdminToken is { Length: > 0 } token && (token.Any(c => c is < '!' and not ' ' or > '~') || token.Trim(' ') != token))
        {
            yield return new ValidationResult(
                $"InternalAccess:AdminToken ({token.Length} characters) has a line break, a control or non-ASCII character, or leading or trailing blanks, "
                + "which no X-Admin-Token header can carry; set it to printable ASCII without them.", [nameof(AdminToken)]);
        }
    }

    internal static IPNetwork? ParseNetwork(string value) =>
        IPNetwork.TryParse(value, out var network) ? network
        : IPAddress.TryParse(value, out var address) ? new IPNetwork(address, address.GetAddressBytes().Length * 8)
        : null;
}
