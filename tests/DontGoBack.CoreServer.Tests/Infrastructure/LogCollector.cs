using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>Keeps what the server logs so a test can wait for an event it cannot see elsewhere.</summary>
public sealed class LogCollector : ILoggerProvider
{
    private readonly ConcurrentQueue<(LogLevel Level, string Category, string Message)> _entries = new();

    public IReadOnlyCollection<(LogLevel Level, string Category, string Message)> Entries => _entries;

    public async Task WaitForAsync(Func<(LogLevel Level, string Category, string Message), bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_entries.Any(match))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"No matching log entry within {timeout}. Logged:\n{string.Join('\n', _entries)}");
            await Task.Delay(50);
        }
    }

    public ILogger CreateLogger(string categoryName) => new Collector(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Collector(LogCollector owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue((logLevel, category, formatter(state, exception)));
    }
}
