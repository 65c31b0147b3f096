using System.Globalization;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>One generated request: what a careless or hostile caller could send.</summary>
public sealed record HostileRequest(string Method, string PathAndQuery, string? ContentType, string Body)
{
    public HttpRequestMessage ToMessage()
    {
        var message = new HttpRequestMessage(new HttpMethod(Method), PathAndQuery);
        if (Body.Length > 0 || ContentType is not null)
        {
            message.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(Body));
            if (ContentType is not null)
                message.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
        }
        return message;
    }

    // The body can be long; the generated case must stay readable in a failure message.
    public override string ToString() =>
        $"{Method} {PathAndQuery} [{ContentType ?? "no content type"}] {(Body.Length > 300 ? Body[..300] + "…" : Body)}";
}

/// <summary>Generators of hostile inputs for the HTTP property tests: ids, days, amounts, texts, paging, bodies, content types.</summary>
public static class HostileRequests
{
    private static readonly string[] NastyTexts =
    [
        "", " ", "\u0000", "a\u0000b", "\ud800", "x\udc00y", "🎉", "별빛", "\u202e", "\r\n", "'; DROP TABLE users;--", "%00", "../..",
        "null", "-1", "1e309", "NaN", "\\", "\"", "<script>", new string('x', 600), new string('가', 5000),
    ];

    private static readonly Gen<char> AnyChar = Gen.OneOf(
        Gen.Choose(0x20, 0x7e).Select(c => (char)c),
        Gen.Choose(0x00, 0x1f).Select(c => (char)c),
        Gen.Choose(0xd800, 0xdfff).Select(c => (char)c),
        Gen.Choose(0xac00, 0xd7a3).Select(c => (char)c));

    public static readonly Gen<string> Text = Gen.Frequency(
        (3, Gen.Elements(NastyTexts)),
        (2, Gen.ArrayOf(AnyChar).Select(chars => new string(chars))));

    /// <summary>Path or query ids: real ones, edge numbers and non-numbers.</summary>
    public static Gen<string> Id(params long[] real) => Gen.Frequency(
        (3, Gen.Elements(real.Select(id => id.ToString(CultureInfo.InvariantCulture)).DefaultIfEmpty("1").ToArray())),
        (2, Gen.Elements("0", "-1", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "1.0", "1e3", "abc", "%20", "1%00", "%F0%9F%8E%89")),
        (1, Gen.Choose(-1000, 1000).Select(n => n.ToString(CultureInfo.InvariantCulture))));

    /// <summary>Day texts around the pinned today (2025-08-10), at the calendar's ends and not days at all.</summary>
    public static readonly Gen<string> Day = Gen.Frequency(
        (3, Gen.Choose(-40, 2).Select(offset => new DateOnly(2025, 8, 10).AddDays(offset).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))),
        (2, Gen.Elements("0001-01-01", "9999-12-31", "1999-12-31", "2000-01-01", "2024-02-29", "2025-02-29", "2025-13-01", "20250810",
            "2025-8-1", "10/08/2025", "2025-08-10T00:00:00Z", "today")),
        (1, Text));

    public static readonly Gen<string> PageNumber = Gen.Frequency(
        (2, Gen.Choose(-2, 600).Select(n => n.ToString(CultureInfo.InvariantCulture))),
        (1, Gen.Elements("2147483647", "2147483648", "-2147483648", "1000000", "1000001", "1.5", "", "x")));

    public static readonly Gen<string?> ContentType = Gen.Frequency(
        (4, Gen.Constant<string?>("application/json")),
        (2, Gen.Elements<string?>("application/json; charset=utf-8", "application/json; charset=utf-16", "application/json; charset=nonsense",
            "text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "*/*", "application/*",
            "application/problem+json", "", ";;;", null)));

    public static readonly Gen<string> Amount = Gen.Frequency(
        (3, Gen.Choose(-1_000_000, 1_000_000).Select(n => n.ToString(CultureInfo.InvariantCulture))),
        (2, Gen.Elements("0", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "1.5", "1e3", "-0", "\"500\"",
            "null", "true", "[]", "{}", "\"\"")));

    /// <summary>An adjustment body: mostly the right shape with hostile fields, sometimes not JSON at all.</summary>
    public static readonly Gen<string> AdjustmentBody = Gen.Frequency(
        (4, from amount in Gen.OneOf(Amount.Select(a => (string?)a), Gen.Constant<string?>(null))
            from reason in Gen.OneOf(Text.Select(t => (string?)JsonSerializer.Serialize(t)), Gen.Elements<string?>(null, "null", "42"))
            from key in Gen.OneOf(Text.Select(t => (string?)JsonSerializer.Serialize(t)), Gen.Elements<string?>(null, "null"))
            from kind in Gen.Elements<string?>(null, "\"reward\"", "\"penalty\"", "\"correction\"", "\"REWARD\"", "\"market\"", "\"opening\"", "7")
            from extra in Gen.Elements<string?>(null, "\"extra\":1", "\"amount\":1", "\"userId\":2")
            select "{" + string.Join(",", new[] { Field("amount", amount), Field("reason", reason), Field("idempotencyKey", key), Field("kind", kind), extra }
                .Where(f => f is not null)) + "}"),
        (1, Gen.Elements("", "{", "[]", "null", "\"text\"", "{\"amount\":", new string('[', 5000), "{\"amount\":1,}", "\u0000", "{'amount':1}")),
        (1, Text));

    private static string? Field(string name, string? value) => value is null ? null : $"\"{name}\":{value}";

    public static readonly Gen<string> AnyMethod = Gen.Elements("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS");

    /// <summary>The endpoint's own method mostly, any other sometimes.</summary>
    public static Gen<string> Method(string own) => Gen.Frequency((5, Gen.Constant(own)), (1, AnyMethod));

    public static string Escape(string text) => Uri.EscapeDataString(text);

    /// <summary>A query string that leaves a parameter out when the generator gives null.</summary>
    public static string Query(params (string Name, string? Value)[] parameters)
    {
        var present = parameters.Where(p => p.Value is not null).Select(p => $"{p.Name}={Escape(p.Value!)}").ToArray();
        return present.Length == 0 ? "" : "?" + string.Join("&", present);
    }

    public static Gen<string?> Optional(Gen<string> value) => Gen.Frequency((3, value.Select(v => (string?)v)), (1, Gen.Constant<string?>(null)));
}
