using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace DontGoBack.Batch.Storage;

/// <summary>
/// Makes text that came from outside (another server's message, a caller's reason or key) safe
/// to store on both providers. PostgreSQL refuses NUL in text, and Npgsql refuses to encode a
/// lone UTF-16 surrogate, so either would fail the whole write it is part of; SQLite would take
/// them but hand back something else. Control characters other than tab and line breaks have no
/// business in a stored reason (they mangle logs and terminals), and a column has a length.
/// </summary>
public static class StoredText
{
    /// <summary>Marks text that was cut to fit.</summary>
    public const char CutMark = '…';

    /// <summary>
    /// Drops C0 control characters except tab, line feed and carriage return, replaces lone
    /// surrogates with U+FFFD and cuts the result to at most <paramref name="maxLength"/> UTF-16
    /// units (so at most that many characters in a PostgreSQL <c>varchar(n)</c>), never between
    /// the halves of a pair, ending in <see cref="CutMark"/> when it was cut. Text that needs
    /// none of this is returned as it is.
    /// </summary>
    [return: NotNullIfNotNull(nameof(text))]
    public static string? Clean(string? text, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        if (text is null)
            return null;
        if (text.Length <= maxLength && !NeedsCleaning(text))
            return text;

        // One unit past the limit is enough to know the text must be cut.
        var cleaned = new StringBuilder(Math.Min(text.Length, maxLength + 1));
        for (var i = 0; i < text.Length && cleaned.Length <= maxLength; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                cleaned.Append(c).Append(text[++i]);
            else if (!IsDropped(c))
                cleaned.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
        }
        if (cleaned.Length > maxLength)
        {
            var keep = maxLength - 1;
            if (keep > 0 && char.IsHighSurrogate(cleaned[keep - 1]))
                keep--;
            cleaned.Length = keep;
            cleaned.Append(CutMark);
        }
        return cleaned.ToString();
    }

    private static bool NeedsCleaning(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (IsDropped(c))
                return true;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                i++;
            else if (char.IsSurrogate(c))
                return true;
        }
        return false;
    }

    private static bool IsDropped(char c) => c < ' ' && c is not ('\t' or '\n' or '\r');
}
