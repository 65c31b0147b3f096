using System.ComponentModel.DataAnnotations;

namespace DontGoBack.CoreServer.InterServer.Auth;

public sealed class AuthOptions
{
    public const string SectionName = "Auth";

    /// <summary>Auth server base URL; required whenever Extension:BaseUrl is set.</summary>
    [OptionalHttpUrl("Auth:BaseUrl")]
    public string? BaseUrl { get; set; }

    [Required(AllowEmptyStrings = false)]
    public string ClientId { get; set; } = "core";

    public string? ClientSecret { get; set; }

    /// <summary>How long a token is reused; the auth server's tokens live about 5 minutes.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromMinutes(4);
}
