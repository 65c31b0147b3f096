using DontGoBack.CoreServer.InterServer;
using DontGoBack.CoreServer.InterServer.Extension;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Tests.Unit;

/// <summary>The limits on hostile answers are settings; a setting that would defeat them stops start-up.</summary>
public sealed class ExtensionOptionsValidationTests
{
    /// <summary>The extension options as the host resolves them, from these settings.</summary>
    private static ExtensionOptions Resolve(params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateApplicationBuilder();
        foreach (var (key, value) in settings)
            builder.Configuration[key] = value;
        builder.AddInterServerClients();
        using var host = builder.Build();
        return host.Services.GetRequiredService<IOptions<ExtensionOptions>>().Value;
    }

    [Fact]
    public void The_defaults_bound_every_hostile_answer()
    {
        var options = Resolve();

        Assert.Equal(TimeSpan.FromSeconds(5), options.MaxRetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(30), options.UserDeadline);
        Assert.Equal(1 << 20, options.MaxAnswerBytes);
        Assert.Equal(16 << 20, options.MaxBulkAnswerBytes);
        Assert.Equal(0.05, options.MaxDailyMove);
    }

    [Theory]
    [InlineData("Extension:UserDeadline", "00:00:01", "Extension:UserDeadline must be at least Extension:AttemptTimeout")]
    [InlineData("Extension:Simulation:Clamp", "0.1", "Extension:Simulation:Clamp must not exceed Extension:MaxDailyMove")]
    [InlineData("Extension:MaxDailyMove", "0.01", "Extension:Simulation:Clamp must not exceed Extension:MaxDailyMove")]
    [InlineData("Extension:MaxDailyMove", "0", "MaxDailyMove")]
    [InlineData("Extension:MaxDailyMove", "1", "MaxDailyMove")]
    [InlineData("Extension:MaxRetryAfter", "01:00:00", "MaxRetryAfter")]
    [InlineData("Extension:MaxRetryAfter", "-00:00:01", "MaxRetryAfter")]
    [InlineData("Extension:UserDeadline", "02:00:00", "UserDeadline")]
    [InlineData("Extension:MaxAnswerBytes", "100", "MaxAnswerBytes")]
    [InlineData("Extension:MaxAnswerBytes", "1073741824", "MaxAnswerBytes")]
    [InlineData("Extension:MaxBulkAnswerBytes", "0", "MaxBulkAnswerBytes")]
    public void A_limit_that_would_not_hold_is_an_options_error_naming_it(string key, string value, string named)
    {
        var error = Assert.Throws<OptionsValidationException>(() => Resolve(("Extension:AttemptTimeout", "00:00:05"), (key, value)));

        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void A_stand_in_with_a_wider_clamp_is_fine_with_a_wider_bound() =>
        Assert.Equal(0.1, Resolve(("Extension:Simulation:Clamp", "0.1"), ("Extension:MaxDailyMove", "0.1")).MaxDailyMove);

    [Fact]
    public void A_remote_extension_server_is_not_held_to_the_in_process_clamp() =>
        Assert.Equal(0.01, Resolve(
            ("Extension:BaseUrl", "http://extension.test/"), ("Auth:BaseUrl", "http://auth.test/"), ("Auth:ClientSecret", "secret"),
            ("Extension:MaxDailyMove", "0.01")).MaxDailyMove);
}
