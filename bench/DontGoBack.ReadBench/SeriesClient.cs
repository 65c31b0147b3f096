using System.Diagnostics;
using System.Net;
using System.Text;

namespace DontGoBack.ReadBench;

/// <summary>The bench's own HTTP calls: a warm-up pass over every user and the ETags a revalidating client holds.</summary>
public static class SeriesClient
{
    /// <param name="from">The first day (YYYY-MM-DD); null asks for the endpoint's default span.</param>
    public static string PathOf(long user, string interval, string? from) =>
        $"/api/users/{user}/asset-series?interval={interval}{(from is null ? "" : $"&from={from}")}";

    public static async Task<int> WarmAsync(
        string baseUrl, int users, string interval, string? from, int concurrency, TextWriter output, CancellationToken cancellationToken)
    {
        using var client = NewClient(baseUrl, concurrency);
        var notOk = 0;
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(1, users), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (user, token) =>
            {
                using var response = await client.GetAsync(PathOf(user, interval, from), HttpCompletionOption.ResponseContentRead, token);
                if (response.StatusCode != HttpStatusCode.OK)
                    Interlocked.Increment(ref notOk);
            });
        output.WriteLine($"warm-up {interval}: {users:N0} users in {clock.Elapsed.TotalSeconds:F1} s ({users / clock.Elapsed.TotalSeconds:N0} requests/s), {notOk} not 200");
        return notOk == 0 ? 0 : 1;
    }

    public static async Task<int> WriteEtagsAsync(
        string baseUrl, int users, string interval, string? from, int count, string outFile, CancellationToken cancellationToken)
    {
        using var client = NewClient(baseUrl, 16);
        var random = new Random(14);
        var picked = Enumerable.Range(0, count).Select(_ => (long)random.Next(1, users + 1)).Distinct().ToArray();
        var lines = new string?[picked.Length];
        await Parallel.ForEachAsync(Enumerable.Range(0, picked.Length), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (i, token) =>
            {
                var path = PathOf(picked[i], interval, from);
                using var response = await client.GetAsync(path, token);
                if (response.StatusCode == HttpStatusCode.OK && response.Headers.ETag is { } etag)
                    lines[i] = $"  {{\"{path}\", '{etag.Tag}'}},";
            });
        if (lines.Any(l => l is null))
        {
            await Console.Error.WriteLineAsync("the server sent no ETag (or not 200) for some series: no revalidation run");
            return 3;
        }
        var lua = new StringBuilder("return {\n");
        foreach (var line in lines)
            lua.AppendLine(line);
        lua.AppendLine("}");
        await File.WriteAllTextAsync(outFile, lua.ToString(), cancellationToken);
        return 0;
    }

    private static HttpClient NewClient(string baseUrl, int connections) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = connections }) { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(60) };
}
