using System.Buffers;
using System.Net;

namespace DontGoBack.CoreServer.InterServer;

/// <summary>
/// Reads each answer whole, up to a byte limit, inside the attempt that fetched it. It sits
/// innermost, below the resilience pipeline, so the attempt timeout covers the body as well as
/// the headers (a server dripping a byte at a time is cut off like one that never answers), and a
/// body that breaks off is an attempt's failure that the retries see and repeat. The bytes go to
/// a pooled buffer, so even a large bulk answer costs no fresh large-object-heap array, and
/// nothing beyond the limit is ever held, whatever the server sends.
/// </summary>
public sealed class BoundedAnswerHandler(int defaultMaxBytes) : DelegatingHandler
{
    /// <summary>Overrides the handler's limit for one request (bulk answers are allowed more).</summary>
    public static readonly HttpRequestOptionsKey<int> MaxBytes = new("DontGoBack.MaxAnswerBytes");

    private const int FirstBufferSize = 4_096;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var limit = request.Options.TryGetValue(MaxBytes, out var requested) ? requested : defaultMaxBytes;
        var response = await base.SendAsync(request, cancellationToken);
        try
        {
            response.Content = await ReadAsync(response.Content, limit, cancellationToken);
            return response;
        }
        catch
        {
            // Disposing the unread rest drops the connection instead of draining a hostile body.
            response.Dispose();
            throw;
        }
    }

    private static async Task<HttpContent> ReadAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        var declared = content.Headers.ContentLength;
        if (declared > limit)
            throw new AnswerTooLargeException(limit);

        // One byte more than the limit is enough to know the answer is too large.
        var buffer = ArrayPool<byte>.Shared.Rent(declared is { } size ? (int)size + 1 : Math.Min(FirstBufferSize, limit + 1));
        var length = 0;
        try
        {
            await using var body = await content.ReadAsStreamAsync(cancellationToken);
            while (true)
            {
                if (length == buffer.Length)
                    buffer = Grow(buffer, length, Math.Min(2L * buffer.Length, limit + 1L));
                var read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                    break;
                length += read;
                if (length > limit)
                    throw new AnswerTooLargeException(limit);
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            // A read torn down by the attempt timeout is the timeout's, not a cut-off answer.
            cancellationToken.ThrowIfCancellationRequested();
            throw new AnswerCutOffException($"answer cut off after {length} bytes: {e.Message}", e);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }

        var pooled = new PooledContent(buffer, length);
        foreach (var (name, values) in content.Headers.NonValidated)
        {
            if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                pooled.Headers.TryAddWithoutValidation(name, values);
        }
        content.Dispose();
        return pooled;
    }

    private static byte[] Grow(byte[] buffer, int length, long size)
    {
        var larger = ArrayPool<byte>.Shared.Rent((int)size);
        buffer.AsSpan(0, length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        return larger;
    }

    /// <summary>The answer's bytes; the buffer goes back to the pool when the response is disposed.</summary>
    private sealed class PooledContent(byte[] buffer, int length) : HttpContent
    {
        private byte[]? _buffer = buffer;

        private byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(PooledContent));

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            stream.WriteAsync(Buffer, 0, length);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            stream.WriteAsync(Buffer.AsMemory(0, length), cancellationToken).AsTask();

        protected override Task<Stream> CreateContentReadStreamAsync() =>
            Task.FromResult<Stream>(new MemoryStream(Buffer, 0, length, writable: false));

        protected override bool TryComputeLength(out long size)
        {
            size = length;
            return true;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && Interlocked.Exchange(ref _buffer, null) is { } rented)
                ArrayPool<byte>.Shared.Return(rented);
            base.Dispose(disposing);
        }
    }
}

/// <summary>An answer larger than its limit: a permanent failure of what was asked, never retried.</summary>
public sealed class AnswerTooLargeException(int limit) : Exception($"answer larger than {limit} bytes")
{
    public int Limit { get; } = limit;
}

/// <summary>
/// An answer whose body broke off (reset, closed early): transient, so it derives from
/// <see cref="HttpRequestException"/>, which the retries and the circuit breaker treat as such.
/// </summary>
public sealed class AnswerCutOffException(string message, Exception inner) : HttpRequestException(message, inner);
