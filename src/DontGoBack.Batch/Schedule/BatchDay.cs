using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace DontGoBack.Batch.Schedule;

/// <summary>
/// A batch day as it is written and read from outside: YYYY-MM-DD. Which day an instant falls on is the
/// calendar's (<see cref="BatchCalendar.DayOf"/>): the date in the batch zone, never the server's.
/// </summary>
public static class BatchDay
{
    /// <summary>Parses a day as every API and command takes it: YYYY-MM-DD, nothing else.</summary>
    public static bool TryParse(string? text, out DateOnly day) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day);

    /// <summary>
    /// Parses a day given from outside and checks that it lies within [earliest, latest];
    /// otherwise the problem names the parameter and the rule. Only a short text is echoed back.
    /// </summary>
    public static bool TryParseWithin(
        string? text, string name, DateOnly earliest, DateOnly latest, out DateOnly day, [NotNullWhen(false)] out string? problem)
    {
        problem = !TryParse(text, out day) ? $"{name} {Echo(text)} is not a date in the form YYYY-MM-DD."
            : day < earliest ? $"{name} {day:yyyy-MM-dd} is before {earliest:yyyy-MM-dd}, the earliest supported day (Batch:EarliestDay)."
            : day > latest ? $"{name} {day:yyyy-MM-dd} is after {latest:yyyy-MM-dd}, the latest day allowed here."
            : null;
        return problem is null;
    }

    private static string Echo(string? text) => text is { Length: <= 40 } ? $"'{text}'" : "(a long text)";
}
