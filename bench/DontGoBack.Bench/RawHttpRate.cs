using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;

namespace DontGoBack.Bench;

/// <param name="NotOk">Answers other than 2xx (expected with --error-rate); they count as requests all the same.</param>
/// <param name="ClientCpu">CPU time of the bench process while timed: the caller's cost of the calls.</param>
/// <param name="SimulatorCpu">CPU time of the stand-in while timed.</param>
internal sealed record RawHttpResult(int Requests, int NotOk, TimeSpan Elapsed, TimeSpan ClientCpu, TimeSpan SimulatorCpu)
{
    public double RequestsPerSecond => Requests / Elapsed.TotalSeconds;
}

/// <summary>
/// The ceiling for per-user calls: the single-user update call over loopback, with the same
/// connections and calls in flight as the core server, and no database or validation behind it.
/// </summary>
internal static class RawHttpRate
{
    private static readonly byte[] Body = """{"asset":10000000,"snapshotDay":"2025-01-01"}"""u8.ToArray();

    public static async Task<RawHttpResult> MeasureAsync(
        ExtensionSimulator simulator, int requests, int concurrency, int users, CancellationToken cancellationToken)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency })
        {
            BaseAddress = simulator.BaseUrl,
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", simulator.Token);

        // Connections opened and code jitted before the clock starts: this is the steady state,
        // the most the job could hope for.
        await SendAsync(http, Math.Min(requests, 2 * concurrency), concurrency, users, cancellationToken);

        using var bench = Process.GetCurrentProcess();
        var (clientCpuBefore, simulatorCpuBefore) = (bench.TotalProcessorTime, simulator.CpuTime);
        var clock = Stopwatch.StartNew();
        var notOk = await SendAsync(http, requests, concurrency, users, cancellationToken);
        clock.Stop();
        bench.Refresh();
        return new RawHttpResult(requests, notOk, clock.Elapsed,
            bench.TotalProcessorTime - clientCpuBefore, simulator.CpuTime - simulatorCpuBefore);
    }

    /// <returns>How many answers were not 2xx.</returns>
    private static async Task<int> SendAsync(HttpClient http, int requests, int concurrency, int users, CancellationToken cancellationToken)
    {
        var taken = 0;
        var notOk = 0;
        var callers = Enumerable.Range(0, Math.Min(concurrency, requests)).Select(async _ =>
        {
            int request;
            while ((request = Interlocked.Increment(ref taken)) <= requests)
            {
                var userId = (request - 1) % users + 1;
                using var content = new ByteArrayContent(Body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                // PostAsync reads the whole answer before it returns, as the core server does.
                using var response = await http.PostAsync(
                    $"msa/ext/api/update-asset/{userId.ToString(CultureInfo.InvariantCulture)}", content, cancellationToken);
                if (!response.IsSuccessStatusCode)
                    Interlocked.Increment(ref notOk);
            }
        });
        await Task.WhenAll(callers);
        return notOk;
    }
}
