namespace DontGoBack.Bench;

/// <summary>The run cannot go on (a child failed, the stand-in never answered); reported as one line, not a stack trace.</summary>
internal sealed class BenchFailedException(string message) : Exception(message);
