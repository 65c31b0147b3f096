using System.ComponentModel.DataAnnotations;
using System.Net;
using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.InterServer.Extension;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Schedule;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class OptionsValidationTests
{
    private static List<ValidationResult> Validate(object options)
    {
        var results = new List<ValidationResult>();
        var valid = Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        Assert.Equal(valid, results.Count == 0);
        return results;
    }

    [Fact]
    public void The_asset_refresh_defaults_are_valid()
    {
        Assert.Empty(Validate(new AssetRefreshOptions()));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public void A_public_read_pool_out_of_range_is_rejected_naming_Database_PublicReadPoolSize(int size)
    {
        Assert.Empty(Validate(new DatabaseOptions()));

        var result = Assert.Single(Validate(new DatabaseOptions { PublicReadPoolSize = size }));

        Assert.Equal("Database:PublicReadPoolSize must be between 1 and 1000.", result.ErrorMessage);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(100_001)]
    public void A_retry_log_limit_out_of_range_is_rejected_naming_Extension_RetryLogLimit(int limit)
    {
        Assert.DoesNotContain(Validate(new ExtensionOptions()), r => r.MemberNames.Contains(nameof(ExtensionOptions.RetryLogLimit)));

        var result = Assert.Single(Validate(new ExtensionOptions { RetryLogLimit = limit }), r => r.MemberNames.Contains(nameof(ExtensionOptions.RetryLogLimit)));

        Assert.Equal("Extension:RetryLogLimit must be between 0 and 100000.", result.ErrorMessage);
    }

    [Theory]
    [InlineData("not a cron")]
    [InlineData("0 3 * * *")] // Unix cron: Quartz wants seconds first
    [InlineData("0 0 25 * * ?")]
    [InlineData("")]
    public void A_bad_cron_is_rejected_naming_AssetRefresh_Cron(string cron)
    {
        var result = Assert.Single(Validate(new AssetRefreshOptions { Cron = cron }));

        Assert.Contains("AssetRefresh:Cron", result.ErrorMessage);
        Assert.Contains(nameof(AssetRefreshOptions.Cron), result.MemberNames);
    }

    [Theory]
    [InlineData("Mars/Olympus_Mons")]
    [InlineData("Asia/Seul")]
    [InlineData("")]
    public void An_unknown_time_zone_is_rejected_naming_Batch_TimeZone(string zone)
    {
        var result = new BatchZoneValidator().Validate(null, new BatchOptions { TimeZone = zone });

        Assert.Equal($"Batch:TimeZone '{zone}' is not a known time zone.", Assert.Single(result.Failures!));
    }

    [Theory]
    [InlineData("0 0 3 * * ?", "03:00")]
    [InlineData("0 0 3 * * ?", "02:59")]
    [InlineData("0 30 7 ? * MON-FRI", "06:00")]
    public void A_deadline_not_after_the_days_fire_is_rejected_naming_AssetRefresh_CompleteBy(string cron, string completeBy)
    {
        var result = Assert.Single(Validate(new AssetRefreshOptions { Cron = cron, CompleteBy = TimeOnly.Parse(completeBy) }));

        Assert.StartsWith($"AssetRefresh:CompleteBy {completeBy}:00 is not after the day's first fire", result.ErrorMessage);
        Assert.Contains(nameof(AssetRefreshOptions.CompleteBy), result.MemberNames);
    }

    [Theory]
    [InlineData("0 0 3 * * ?", "03:00:01")]
    [InlineData("* * * * * ?", "06:00")]
    public void A_deadline_after_the_days_fire_is_accepted(string cron, string completeBy) =>
        Assert.Empty(Validate(new AssetRefreshOptions { Cron = cron, CompleteBy = TimeOnly.Parse(completeBy) }));

    [Theory]
    [InlineData("America/New_York")]
    [InlineData("UTC")]
    [InlineData("Korea Standard Time")] // a Windows id, which .NET maps to Asia/Seoul
    public void Known_time_zones_are_accepted(string zone) =>
        Assert.True(new BatchZoneValidator().Validate(null, new BatchOptions { TimeZone = zone }).Succeeded);

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(4097)]
    public void A_max_concurrency_out_of_range_is_rejected_naming_MaxConcurrency(int maxConcurrency)
    {
        var result = Assert.Single(Validate(new AssetRefreshOptions { MaxConcurrency = maxConcurrency }));

        // The range attribute names the property; ValidateDataAnnotations prefixes the options type.
        Assert.Contains(nameof(AssetRefreshOptions.MaxConcurrency), result.ErrorMessage);
        Assert.Contains(nameof(AssetRefreshOptions.MaxConcurrency), result.MemberNames);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    public void Max_concurrency_at_its_bounds_is_accepted(int maxConcurrency) =>
        Assert.Empty(Validate(new AssetRefreshOptions { MaxConcurrency = maxConcurrency }));

    [Fact]
    public void Other_ranges_are_checked_too()
    {
        var results = Validate(new AssetRefreshOptions { PageSize = 0, WriteChunkSize = 0, StartAmount = -1 });

        var members = results.SelectMany(r => r.MemberNames).Order().ToArray();
        Assert.Equal(["PageSize", "StartAmount", "WriteChunkSize"], members);
    }

    /// <summary>The way the host validates it: <c>ValidateDataAnnotations</c> on the bound options.</summary>
    private static AssetRefreshOptions ResolveThroughOptions(Action<AssetRefreshOptions> configure)
    {
        using var services = new ServiceCollection()
            .AddOptions<AssetRefreshOptions>().Configure(configure).ValidateDataAnnotations()
            .Services.BuildServiceProvider();
        return services.GetRequiredService<IOptions<AssetRefreshOptions>>().Value;
    }

    /// <summary>The batch calendar as the host makes it: from Batch options validated with their zone check.</summary>
    private static BatchCalendar ResolveCalendar(Action<BatchOptions> configure)
    {
        using var services = new ServiceCollection()
            .AddSingleton(TimeProvider.System)
            .AddSingleton<IValidateOptions<BatchOptions>, BatchZoneValidator>()
            .AddSingleton<BatchCalendar>()
            .AddOptions<BatchOptions>().Configure(configure).ValidateDataAnnotations()
            .Services.BuildServiceProvider();
        return services.GetRequiredService<BatchCalendar>();
    }

    [Fact]
    public void The_defaults_pass_the_hosts_options_validation()
    {
        Assert.Equal("0 0 3 * * ?", ResolveThroughOptions(_ => { }).Cron);
        Assert.Equal("Asia/Seoul", ResolveCalendar(_ => { }).ZoneId);
    }

    [Fact]
    public void An_unknown_Batch_TimeZone_is_an_options_error_naming_it_not_a_crash_while_making_the_calendar()
    {
        // Validation must report an unknown zone, not throw TimeZoneNotFoundException while reading the options.
        var error = Assert.Throws<OptionsValidationException>(() => ResolveCalendar(o => o.TimeZone = "Mars/Olympus_Mons"));

        Assert.Equal("Batch:TimeZone 'Mars/Olympus_Mons' is not a known time zone.", Assert.Single(error.Failures));
    }

    [Fact]
    public void A_bad_cron_is_an_options_error_naming_it_not_a_crash_while_validating()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ResolveThroughOptions(o => o.Cron = "not a cron"));

        Assert.Contains("AssetRefresh:Cron", error.Message);
    }

    [Fact]
    public void Max_concurrency_0_is_an_options_error_naming_it()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ResolveThroughOptions(o => o.MaxConcurrency = 0));

        Assert.Contains(nameof(AssetRefreshOptions.MaxConcurrency), error.Message);
    }

    [Theory]
    [InlineData("0 0 3 30 2 ?")] // 30 February
    [InlineData("0 0 3 31 4 ?")] // 31 April
    [InlineData("0 0 3 * * ? 2024")] // a year gone by
    public void A_cron_that_never_fires_again_is_refused_naming_AssetRefresh_Cron(string cron)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 8, 10, 0, 0, 0, TimeSpan.Zero));
        var validator = new DailyJobOptionsClockValidator<AssetRefreshOptions>(Options.Create(new BatchOptions()), time);

        var result = validator.Validate(null, new AssetRefreshOptions { Cron = cron });

        Assert.Equal($"AssetRefresh:Cron '{cron}' never fires after 2025-08-10 09:00 in Asia/Seoul: no such day comes again.", Assert.Single(result.Failures!));
        Assert.True(validator.Validate(null, new AssetRefreshOptions()).Succeeded);
    }

    [Fact]
    public void A_cron_is_not_judged_on_a_batch_zone_that_does_not_exist_which_has_its_own_line()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 8, 10, 0, 0, 0, TimeSpan.Zero));
        var validator = new DailyJobOptionsClockValidator<AssetRefreshOptions>(Options.Create(new BatchOptions { TimeZone = "Mars/Olympus_Mons" }), time);

        Assert.True(validator.Validate(null, new AssetRefreshOptions { Cron = "0 0 3 30 2 ?" }).Skipped);
        var refused = Assert.Throws<OptionsValidationException>(() => new BatchCalendar(time, Options.Create(new BatchOptions { TimeZone = "Mars/Olympus_Mons" })));
        Assert.Equal("Batch:TimeZone 'Mars/Olympus_Mons' is not a known time zone.", Assert.Single(refused.Failures));
    }

    [Theory]
    // 2025-08-09 16:00 UTC is 2025-08-10 01:00 in Seoul: today is the Seoul day, not the UTC one.
    [InlineData("2025-08-10", true)]
    [InlineData("2025-08-11", false)]
    public void Batch_EarliestDay_after_today_in_the_batch_zone_is_refused(string earliest, bool accepted)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 8, 9, 16, 0, 0, TimeSpan.Zero));
        BatchCalendar Create() => new(time, Options.Create(new BatchOptions { EarliestDay = DateOnly.Parse(earliest) }));

        if (accepted)
        {
            Assert.Equal(DateOnly.Parse(earliest), Create().EarliestDay);
            return;
        }
        var refused = Assert.Throws<OptionsValidationException>(Create);
        Assert.Equal(
            "Batch:EarliestDay 2025-08-11 is after today (2025-08-10 in Asia/Seoul): no day could be run or shown; set it to today or earlier.",
            Assert.Single(refused.Failures));
    }

    [Fact]
    public void The_internal_access_defaults_are_valid() =>
        Assert.Empty(Validate(new InternalAccessOptions()));

    [Fact]
    public void Networks_and_single_addresses_are_accepted() =>
        Assert.Empty(Validate(new InternalAccessOptions { AllowedNetworks = ["10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"] }));

    [Theory]
    [InlineData("not-an-ip")]
    [InlineData("10.0.0.0/33")]
    [InlineData("300.0.0.1")]
    [InlineData("")]
    public void Anything_else_is_rejected_naming_the_entry(string network)
    {
        var result = Assert.Single(Validate(new InternalAccessOptions { AllowedNetworks = ["10.0.0.0/8", network] }));

        Assert.Contains("InternalAccess:AllowedNetworks", result.ErrorMessage);
        Assert.Contains($"'{network}'", result.ErrorMessage);
        Assert.Contains(nameof(InternalAccessOptions.AllowedNetworks), result.MemberNames);
    }

    [Fact]
    public void A_single_address_is_parsed_as_a_host_network()
    {
        Assert.Equal(new IPNetwork(IPAddress.Parse("127.0.0.1"), 32), InternalAccessOptions.ParseNetwork("127.0.0.1"));
        Assert.Equal(new IPNetwork(IPAddress.IPv6Loopback, 128), InternalAccessOptions.ParseNetwork("::1"));
        Assert.Equal(new IPNetwork(IPAddress.Parse("10.0.0.0"), 8), InternalAccessOptions.ParseNetwork("10.0.0.0/8"));
        Assert.Null(InternalAccessOptions.ParseNetwork("not-an-ip"));
    }
}
