using System.Diagnostics;
using System.Globalization;

namespace DontGoBack.Bench;

/// <summary>Progress goes to standard error: standard output holds only the table.</summary>
internal static class Progress
{
    private static readonly Stopwatch SinceStart = Stopwatch.StartNew();

    public static void Say(string message) =>
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[bench {SinceStart.Elapsed:hh\\:mm\\:ss}] {message}"));
}
