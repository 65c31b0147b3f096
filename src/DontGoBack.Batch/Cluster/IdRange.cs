using Microsoft.EntityFrameworkCore;

namespace DontGoBack.Batch.Cluster;

/// <summary>Ids from <see cref="First"/> to <see cref="Last"/>, both included: a slice of what a batch works through.</summary>
public readonly record struct IdRange(long First, long Last)
{
    /// <summary>Every id there could be, zero and negative ones included: which ones a run works on is what exists.</summary>
    public static readonly IdRange All = new(long.MinValue, long.MaxValue);

    /// <summary>
    /// Consecutive ranges within this one that each hold at most <paramref name="size"/> of <paramref name="ids"/>,
    /// bounded by the ids that exist (keyset boundaries: every size-th id in order), never by arithmetic over the
    /// range: N ids give ceil(N / size) ranges however sparse they are, up to long.MaxValue. The first range starts
    /// at the first id, the last ends at the last one, and each reaches up to the next one's first id, so an id
    /// that appears in a gap meanwhile still falls in one. Empty when no id lies in this range.
    /// </summary>
    /// <remarks>One query per range, each walking at most size + 1 entries of the index the ids come from.</remarks>
    public async Task<IReadOnlyList<IdRange>> SplitAsync(IQueryable<long> ids, int size, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var (first, last) = (First, Last);
        var within = ids.Where(id => id >= first && id <= last);
        var ranges = new List<IdRange>();
        var start = await within.OrderBy(id => id).Select(id => (long?)id).FirstOrDefaultAsync(cancellationToken);
        while (start is { } from)
        {
            var next = await within.Where(id => id >= from).OrderBy(id => id).Skip(size).Select(id => (long?)id)
                .FirstOrDefaultAsync(cancellationToken);
            if (next is { } nextFrom)
            {
                ranges.Add(new IdRange(from, nextFrom - 1));
                start = nextFrom;
                continue;
            }
            var end = await within.Where(id => id >= from).MaxAsync(id => (long?)id, cancellationToken) ?? from;
            ranges.Add(new IdRange(from, end));
            break;
        }
        return ranges;
    }

    /// <summary>Parses "5", "1-100" or a comma list of those, e.g. "1-100,205".</summary>
    public static bool TryParseList(string text, out IReadOnlyList<IdRange> ranges)
    {
        var parsed = new List<IdRange>();
        ranges = parsed;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var bounds = part.Split('-', 2, StringSplitOptions.TrimEntries);
            if (!long.TryParse(bounds[0], out var first) || first < 1)
                return false;
            var last = first;
            if (bounds.Length == 2 && (!long.TryParse(bounds[1], out last) || last < first))
                return false;
            parsed.Add(new IdRange(first, last));
        }
        return parsed.Count > 0;
    }
}
