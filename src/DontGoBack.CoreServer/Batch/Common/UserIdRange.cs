namespace DontGoBack.CoreServer.Batch.Common;

/// <summary>Users with ids from <see cref="First"/> to <see cref="Last"/>, both included: a slice of a batch's users.</summary>
public readonly record struct UserIdRange(long First, long Last)
{
    public static readonly UserIdRange All = new(1, long.MaxValue);

    /// <summary>Consecutive ranges of at most <paramref name="size"/> ids covering this one.</summary>
    public IReadOnlyList<UserIdRange> Split(int size)
    {
        var parts = new List<UserIdRange>();
        for (var first = First; first <= Last; first += size)
        {
            parts.Add(new UserIdRange(first, Math.Min(Last, first + size - 1)));
            if (first > long.MaxValue - size)
                break;
        }
        return parts;
    }

    /// <summary>Parses "5", "1-100" or a comma list of those, e.g. "1-100,205".</summary>
    public static bool TryParseList(string text, out IReadOnlyList<UserIdRange> ranges)
    {
        var parsed = new List<UserIdRange>();
        ranges = parsed;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var bounds = part.Split('-', 2, StringSplitOptions.TrimEntries);
            if (!long.TryParse(bounds[0], out var first) || first < 1)
                return false;
            var last = first;
            if (bounds.Length == 2 && (!long.TryParse(bounds[1], out last) || last < first))
                return false;
            parsed.Add(new UserIdRange(first, last));
        }
        return parsed.Count > 0;
    }
}
