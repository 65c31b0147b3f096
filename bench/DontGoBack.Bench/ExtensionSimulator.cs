using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;

namespace DontGoBack.Bench;

/// <summary>The stand-in extension and auth server, in its own process on a free loopback port.</summary>
internal sealed class ExtensionSimulator(Process process, Uri baseUrl, string token) : IDisposable
{
    public const string ClientId = "core";
    public const string ClientSecret = "local-core-secret";
    private const string TokenPath = "msa/auth/api/token";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    public Uri BaseUrl => baseUrl;

    /// <summary>A bearer token for the bench's own calls.</summary>
    public string Token => token;

    public static async Task<ExtensionSimulator> StartAsync(
        string dll, int addedLatencyMs, double errorRate, int maxBulkItems, CancellationToken cancellationToken)
    {
        var baseUrl = new Uri($"http://127.0.0.1:{FreeLoopbackPort()}/");
        var environment = new Dictionary<string, string>
        {
            ["Urls"] = baseUrl.ToString().TrimEnd('/'),
            ["Simulator__AddedLatencyMs"] = addedLatencyMs.ToString(CultureInfo.InvariantCulture),
            ["Simulator__ErrorRate"] = errorRate.ToString(CultureInfo.InvariantCulture),
            ["Simulator__MaxBulkItems"] = maxBulkItems.ToString(CultureInfo.InvariantCulture),
            // The raw HTTP rate holds one token for its whole run, which may outlast the default 5 minutes.
            // The core server is unaffected: it fetches a new token after its own Auth:TokenLifetime anyway.
            ["Simulator__TokenLifetimeSeconds"] = "86400",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        // Its console log would land in our standard output, which belongs to the table.
        var process = DotnetProcess.Start(dll, [], environment, line => Console.Error.WriteLine($"[simulator] {line}"));
        try
        {
            return new ExtensionSimulator(process, baseUrl, await WaitForTokenAsync(process, baseUrl, cancellationToken));
        }
        catch
        {
            DotnetProcess.Stop(process);
            process.Dispose();
            throw;
        }
    }

    /// <summary>CPU time it has used so far; the difference over a step is its share of that step.</summary>
    public TimeSpan CpuTime => DotnetProcess.CpuTime(process) ?? throw new BenchFailedException("the stand-in extension server has exited");

    public void Dispose()
    {
        DotnetProcess.Stop(process);
        process.Dispose();
    }

    private static async Task<string> WaitForTokenAsync(Process process, Uri baseUrl, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
                throw new BenchFailedException($"the stand-in extension server exited with code {process.ExitCode} before answering");
            try
            {
                using var response = await http.PostAsJsonAsync(TokenPath, new { clientId = ClientId, clientSecret = ClientSecret }, cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                    return (await response.Content.ReadAsStringAsync(cancellationToken)).Trim();
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            if (clock.Elapsed > StartTimeout)
                throw new BenchFailedException($"the stand-in extension server did not issue a token at {baseUrl} within {StartTimeout.TotalSeconds} s");
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
