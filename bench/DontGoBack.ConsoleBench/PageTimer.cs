using System.Diagnostics;
using System.Net;

namespace DontGoBack.ConsoleBench;

/// <summary>One request the bench times: the page, what it asks for, and its path and query.</summary>
public sealed record PageRequest(string Page, string Variant, string Path);

/// <summary>Times of one request variant, in milliseconds, and the size of its answer.</summary>
public sealed record PageTimes(PageRequest Request, double[] Milliseconds, long Bytes)
{
    public double Percentile(double share)
    {
        // Nearest rank: the smallest time that at least this share of the requests did not exceed.
        var sorted = Milliseconds.Order().ToArray();
        return sorted[Math.Max(0, (int)Math.Ceiling(share * sorted.Length) - 1)];
    }
}

/// <summary>
/// Asks for each page one request at a time over one kept-alive connection, a warm-up first (untimed), and
/// times each request from sending it to the last byte of the answer read: the server's time plus loopback
/// and Kestrel, with nothing else in flight. Any answer but 200 fails the bench (a fast error page is no timing).
/// </summary>
public sealed class PageTimer(string baseUrl, string adminToken, Action<string> progress)
{
    public async Task<IReadOnlyList<PageTimes>> TimeAsync(IReadOnlyList<PageRequest> requests, int warmUp, int count, CancellationToken cancellationToken)
    {
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1, AutomaticDecompression = DecompressionMethods.None })
        {
            BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(60),
        };
        client.DefaultRequestHeaders.Add("X-Admin-Token", adminToken);
        var results = new List<PageTimes>();
        foreach (var request in requests)
        {
            for (var i = 0; i < warmUp; i++)
                await GetAsync(client, request, cancellationToken);
            var times = new double[count];
            long bytes = 0;
            for (var i = 0; i < count; i++)
            {
                var clock = Stopwatch.StartNew();
                bytes = await GetAsync(client, request, cancellationToken);
                times[i] = clock.Elapsed.TotalMilliseconds;
            }
            var result = new PageTimes(request, times, bytes);
            results.Add(result);
            progress($"{request.Page} {request.Variant}: p50 {result.Percentile(0.5):F1} ms, p95 {result.Percentile(0.95):F1} ms, max {times.Max():F1} ms");
        }
        return results;
    }

    private static async Task<long> GetAsync(HttpClient client, PageRequest request, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync(request.Path, HttpCompletionOption.ResponseContentRead, cancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"{request.Path} answered {(int)response.StatusCode}: {System.Text.Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 300)))}");
        return body.Length;
    }
}
