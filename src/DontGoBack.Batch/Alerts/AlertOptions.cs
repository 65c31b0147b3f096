using System.ComponentModel.DataAnnotations;

namespace DontGoBack.Batch.Alerts;

/// <summary>The Alerts section: where deadline alerts are posted and how hard delivery tries.</summary>
public sealed class AlertOptions : IValidatableObject
{
    public const string SectionName = "Alerts";

    /// <summary>An absolute http(s) URL that receives each alert as a JSON POST; unset, alerts are logged and counted only.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>Calls made for one message before it is given up (each waits up to <see cref="Timeout"/>).</summary>
    [Range(1, 100, ErrorMessage = "Alerts:MaxAttempts must be between {1} and {2}.")]
    public int MaxAttempts { get; set; } = 8;

    /// <summary>Wait before the second call; it doubles with each further one up to <see cref="MaxRetryDelay"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00", ErrorMessage = "Alerts:FirstRetryDelay must be between {1} and {2}.")]
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    [Range(typeof(TimeSpan), "00:00:00.010", "06:00:00", ErrorMessage = "Alerts:MaxRetryDelay must be between {1} and {2}.")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Longest wait for the receiver's answer to one call.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00", ErrorMessage = "Alerts:Timeout must be between {1} and {2}.")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often every node looks for messages whose delivery is due (its own new ones go out at once).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00", ErrorMessage = "Alerts:PollInterval must be between {1} and {2}.")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    public Uri? Webhook => string.IsNullOrWhiteSpace(WebhookUrl) ? null : new Uri(WebhookUrl);

    /// <summary>The wait after the <paramref name="attempts"/>th failed call.</summary>
    public TimeSpan RetryDelayAfter(int attempts)
    {
        var delay = FirstRetryDelay * Math.Pow(2, Math.Clamp(attempts - 1, 0, 30));
        return delay < MaxRetryDelay ? delay : MaxRetryDelay;
    }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrWhiteSpace(WebhookUrl)
            && !(Uri.TryCreate(WebhookUrl, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps)))
            yield return new ValidationResult($"Alerts:WebhookUrl '{WebhookUrl}' is not an absolute http or https URL.", [nameof(WebhookUrl)]);
        if (MaxRetryDelay < FirstRetryDelay)
            yield return new ValidationResult("Alerts:MaxRetryDelay must not be shorter than Alerts:FirstRetryDelay.", [nameof(MaxRetryDelay)]);
    }
}
