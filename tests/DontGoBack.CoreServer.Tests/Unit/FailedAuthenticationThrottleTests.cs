using System.Net;
using DontGoBack.CoreServer.Hosting;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class FailedAuthenticationThrottleTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 8, 10, 0, 0, 0, TimeSpan.Zero));
    private readonly FakeLogger<FailedAuthenticationThrottle> _logger = new();

    private FailedAuthenticationThrottle Throttle(int burst = 3, int maxTracked = 100) =>
        new(Options.Create(new FailedAuthenticationOptions { Burst = burst, Interval = TimeSpan.FromSeconds(20), MaxTrackedAddresses = maxTracked }),
            _time, _logger);

    [Fact]
    public async Task Attempts_are_charged_before_their_token_is_checked_so_a_thousand_at_once_get_only_the_burst()
    {
        var throttle = Throttle();
        var address = IPAddress.Parse("192.0.2.7");

        // A thousand sign-in posts whose bodies (and so their token checks) all come after every one began.
        var begun = await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ => Task.Run(() => throttle.TryBeginAttempt(address))));

        Assert.Equal(3, begun.Count(wait => wait is null));
        Assert.Equal(1, _logger.Collector.Count);
    }

    [Fact]
    public void A_right_token_is_forgiven_its_charge_so_operators_who_get_it_right_are_never_refused()
    {
        var throttle = Throttle();
        var address = IPAddress.Parse("192.0.2.8");

        for (var attempt = 0; attempt < 50; attempt++)
        {
            Assert.Null(throttle.TryBeginAttempt(address));
            throttle.Forgive(address);
        }
        // Its allowance is whole: a burst of wrong ones still gets exactly the burst.
        Assert.Equal(3, Enumerable.Range(0, 10).Count(_ => throttle.TryBeginAttempt(address) is null));
    }

    [Fact]
    public void A_burst_of_failures_is_allowed_then_one_more_per_interval_and_each_burst_is_logged_once()
    {
        var throttle = Throttle();
        var address = IPAddress.Parse("192.0.2.1");

        for (var failure = 0; failure < 3; failure++)
        {
            Assert.Null(throttle.RefusedFor(address));
            throttle.RecordFailure(address);
        }
        Assert.Equal(TimeSpan.FromSeconds(20), throttle.RefusedFor(address));
        Assert.Equal(1, _logger.Collector.Count);

        _time.Advance(TimeSpan.FromSeconds(19));
        Assert.Equal(TimeSpan.FromSeconds(1), throttle.RefusedFor(address));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(throttle.RefusedFor(address));
        throttle.RecordFailure(address);
        Assert.Equal(TimeSpan.FromSeconds(20), throttle.RefusedFor(address));
        Assert.Equal(2, _logger.Collector.Count);

        // Paid back in full after the whole burst's intervals: a fresh allowance.
        _time.Advance(TimeSpan.FromSeconds(80));
        for (var failure = 0; failure < 3; failure++)
            throttle.RecordFailure(address);
        Assert.NotNull(throttle.RefusedFor(address));
    }

    [Fact]
    public void Ipv6_addresses_count_by_their_64_and_a_mapped_ipv4_address_is_the_ipv4_one()
    {
        var throttle = Throttle(burst: 1);
        throttle.RecordFailure(IPAddress.Parse("2001:db8:1:2::1"));
        throttle.RecordFailure(IPAddress.Parse("198.51.100.7"));

        Assert.NotNull(throttle.RefusedFor(IPAddress.Parse("2001:db8:1:2:ffff::9")));
        Assert.Null(throttle.RefusedFor(IPAddress.Parse("2001:db8:1:3::1")));
        Assert.NotNull(throttle.RefusedFor(IPAddress.Parse("::ffff:198.51.100.7")));
        Assert.Null(throttle.RefusedFor(IPAddress.Parse("198.51.100.8")));
    }

    [Fact]
    public void Memory_is_bounded_past_the_limit_new_addresses_share_one_allowance_and_paid_back_ones_make_room()
    {
        var throttle = Throttle(burst: 1, maxTracked: 100);
        for (var i = 0; i < 100; i++)
            throttle.RecordFailure(IPAddress.Parse($"10.0.{i / 256}.{i % 256}"));
        Assert.Equal(100, throttle.TrackedAddresses);

        for (var i = 0; i < 5000; i++)
            throttle.RecordFailure(IPAddress.Parse($"10.1.{i / 256}.{i % 256}"));
        // The 100 own entries and the shared one, however many addresses came.
        Assert.Equal(101, throttle.TrackedAddresses);
        Assert.NotNull(throttle.RefusedFor(IPAddress.Parse("10.2.0.1")));

        _time.Advance(TimeSpan.FromDays(1));
        throttle.RecordFailure(IPAddress.Parse("10.2.0.1"));
        Assert.Equal(1, throttle.TrackedAddresses);
        Assert.Null(throttle.RefusedFor(IPAddress.Parse("10.2.0.2")));
    }
}
