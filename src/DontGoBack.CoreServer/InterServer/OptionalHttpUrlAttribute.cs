using System.ComponentModel.DataAnnotations;

namespace DontGoBack.CoreServer.InterServer;

/// <summary>Empty, or an absolute http(s) URL.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class OptionalHttpUrlAttribute(string settingName) : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is null or "" || (value is string text && Uri.TryCreate(text, UriKind.Absolute, out var uri)
                                && uri.Scheme is "http" or "https")
            ? ValidationResult.Success
            : new ValidationResult($"{settingName} '{value}' is not an absolute http or https URL.", [validationContext.MemberName!]);
}
