using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using DontGoBack.MarketSimulation;
using Microsoft.Extensions.Time.Testing;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class SimulatedTokenIssuerTests
{
    private readonly SimulatorOptions _options = new()
    {
        ClientId = "core",
        ClientSecret = "core-secret",
        SigningKey = "unit-test-signing-key-0123456789",
        TokenLifetimeSeconds = 300,
    };
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 8, 10, 0, 0, 0, TimeSpan.Zero));
    private readonly SimulatedTokenIssuer _issuer;

    public SimulatedTokenIssuerTests() => _issuer = new SimulatedTokenIssuer(_options, _time);

    private string IssueValid() => Assert.IsType<string>(_issuer.Issue("core", "core-secret"));

    /// <summary>A token signed with the right key over any payload, as only the issuer could make.</summary>
    private string SignedWithPayload(string payloadSegment)
    {
        var header = IssueValid().Split('.')[0];
        var signature = Base64Url.EncodeToString(HMACSHA256.HashData(
            Encoding.UTF8.GetBytes(_options.SigningKey), Encoding.ASCII.GetBytes($"{header}.{payloadSegment}")));
        return $"{header}.{payloadSegment}.{signature}";
    }

    private static string Segment(string json) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void The_right_credentials_issue_a_valid_three_part_token()
    {
        var token = IssueValid();

        Assert.Equal(3, token.Split('.').Length);
        Assert.True(_issuer.IsValid(token));
    }

    [Theory]
    [InlineData("core", "wrong-secret")]
    [InlineData("core", null)]
    [InlineData("core", "")]
    [InlineData("other", "core-secret")]
    [InlineData(null, "core-secret")]
    public void Wrong_credentials_issue_no_token(string? clientId, string? clientSecret) =>
        Assert.Null(_issuer.Issue(clientId, clientSecret));

    [Fact]
    public void A_token_is_valid_until_its_lifetime_passes()
    {
        var token = IssueValid();

        _time.Advance(TimeSpan.FromSeconds(299));
        Assert.True(_issuer.IsValid(token));

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(_issuer.IsValid(token));

        _time.Advance(TimeSpan.FromHours(1));
        Assert.False(_issuer.IsValid(token));
    }

    [Fact]
    public void A_token_with_a_tampered_signature_is_invalid()
    {
        var token = IssueValid();
        var last = token[^1];
        var tampered = token[..^1] + (last == 'A' ? 'B' : 'A');

        Assert.False(_issuer.IsValid(tampered));
        Assert.False(_issuer.IsValid(token[..^1]));
        Assert.False(_issuer.IsValid(token + "A"));
    }

    [Fact]
    public void A_token_with_a_tampered_payload_is_invalid()
    {
        var parts = IssueValid().Split('.');
        var forever = Segment("""{"sub":"core","exp":99999999999}""");

        Assert.False(_issuer.IsValid($"{parts[0]}.{forever}.{parts[2]}"));
    }

    [Fact]
    public void A_token_signed_with_another_key_is_invalid()
    {
        var otherOptions = new SimulatorOptions
        {
            ClientId = "core", ClientSecret = "core-secret", SigningKey = "another-signing-key-9876543210",
        };
        var foreign = new SimulatedTokenIssuer(otherOptions, _time).Issue("core", "core-secret");

        Assert.NotNull(foreign);
        Assert.False(_issuer.IsValid(foreign));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("a.b")]
    [InlineData("a.b.c")]
    [InlineData("a.b.c.d")]
    [InlineData("..")]
    [InlineData("Bearer x.y.z")]
    [InlineData("ü.ö.ä")]
    public void Garbage_is_invalid(string? token) =>
        Assert.False(_issuer.IsValid(token));

    [Theory]
    [InlineData("""{"sub":"core"}""")]
    [InlineData("""{"exp":"soon"}""")]
    [InlineData("""{"exp":1.5}""")]
    [InlineData("""{"exp":1e30}""")]
    [InlineData("""{"exp":true}""")]
    [InlineData("""[]""")]
    [InlineData("""null""")]
    [InlineData("""not json""")]
    [InlineData("")]
    public void A_correctly_signed_token_with_a_malformed_payload_is_invalid_rather_than_throwing(string payloadJson) =>
        Assert.False(_issuer.IsValid(SignedWithPayload(Segment(payloadJson))));

    [Theory]
    [InlineData("@@@@")]
    [InlineData("A")]
    public void A_correctly_signed_token_whose_payload_is_not_base64url_is_invalid_rather_than_throwing(string payloadSegment) =>
        Assert.False(_issuer.IsValid(SignedWithPayload(payloadSegment)));

    [Fact]
    public void A_correctly_signed_payload_with_a_future_exp_is_valid()
    {
        // Guards the malformed-payload tests above: the signing helper itself produces valid tokens.
        var exp = _time.GetUtcNow().AddMinutes(1).ToUnixTimeSeconds();

        Assert.True(_issuer.IsValid(SignedWithPayload(Segment($$"""{"sub":"core","exp":{{exp}}}"""))));
    }
}
