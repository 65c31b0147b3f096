using System.ComponentModel.DataAnnotations;
using System.Globalization;
using DontGoBack.CoreServer.Domain.Assets;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class SeriesCacheOptionsTests
{
    [Fact]
    public void The_defaults_are_valid_a_staleness_bound_of_5_s_within_a_lifetime_of_10_min()
    {
        var defaults = new SeriesCacheOptions();

        Assert.Empty(Validate(defaults));
        Assert.Equal((TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(10)), (defaults.StalenessBound, defaults.Lifetime));
    }

    [Theory]
    [InlineData("00:00:00.400", "00:10:00", "SeriesCache:StalenessBound must be between 00:00:00.500 and 00:10:00.")]
    [InlineData("00:10:01", "01:00:00", "SeriesCache:StalenessBound must be between 00:00:00.500 and 00:10:00.")]
    [InlineData("00:01:00", "00:00:30", "SeriesCache:StalenessBound (00:01:00) must not exceed SeriesCache:Lifetime (00:00:30)")]
    public void A_staleness_bound_out_of_range_or_beyond_the_lifetime_is_rejected_naming_it(string bound, string lifetime, string message)
    {
        var options = new SeriesCacheOptions
        {
            StalenessBound = TimeSpan.Parse(bound, CultureInfo.InvariantCulture),
            Lifetime = TimeSpan.Parse(lifetime, CultureInfo.InvariantCulture),
        };

        var result = Assert.Single(Validate(options));

        Assert.StartsWith(message, result.ErrorMessage);
        Assert.Contains(nameof(SeriesCacheOptions.StalenessBound), result.MemberNames);
    }

    private static List<ValidationResult> Validate(SeriesCacheOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results;
    }
}
