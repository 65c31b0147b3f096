using DontGoBack.Batch.Storage;
using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DontGoBack.Batch.Runs;

/// <summary>
/// A job's own counts of a run (the asset refresh's re-based users and days, say), which the engine
/// stores, adds up and shows without knowing what they count: a flat set of named whole numbers. A job
/// declares them as a record of <see cref="int"/> properties (<see cref="IJobCounters"/>) and converts
/// with <see cref="Of{TCounters}"/> and <see cref="As{TCounters}"/>. A count of zero is no count: it is
/// neither stored nor shown, so a run without any reads the same as a run of a job that has none.
/// </summary>
[JsonConverter(typeof(BatchCountersJsonConverter))]
public readonly struct BatchCounters : IEquatable<BatchCounters>
{
    private readonly ImmutableSortedDictionary<string, int>? counts;

    private BatchCounters(ImmutableSortedDictionary<string, int> counts) => this.counts = counts.IsEmpty ? null : counts;

    /// <summary>No counts.</summary>
    public static BatchCounters None => default;

    /// <summary>The counts by name, in name order; zeros left out.</summary>
    public IReadOnlyDictionary<string, int> Counts => counts ?? ImmutableSortedDictionary<string, int>.Empty;

    public bool IsEmpty => counts is null;

    public static BatchCounters From(IEnumerable<KeyValuePair<string, int>> counts) =>
        new(counts.Where(c => c.Value != 0).ToImmutableSortedDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal));

    /// <summary>The sum of two runs' (or ranges', or attempts') counts, name by name.</summary>
    public BatchCounters Add(BatchCounters other)
    {
        if (other.counts is null)
            return this;
        if (counts is null)
            return other;
        var sum = counts.ToBuilder();
        foreach (var (name, count) in other.counts)
            // Saturates rather than throws: two rows near the limit must not fail the run that sums them.
            sum[name] = (int)Math.Clamp((long)sum.GetValueOrDefault(name) + count, int.MinValue, int.MaxValue);
        return From(sum);
    }

    public static BatchCounters Sum(IEnumerable<BatchCounters> all) => all.Aggregate(None, (sum, next) => sum.Add(next));

    /// <summary>A job's typed counters as counts: each of its properties by its JSON (camelCase) name.</summary>
    public static BatchCounters Of<TCounters>(TCounters counters) where TCounters : IJobCounters =>
        From(JsonSerializer.SerializeToElement(counters, JsonSerializerOptions.Web).EnumerateObject()
            .Select(p => KeyValuePair.Create(p.Name, p.Value.GetInt32())));

    /// <summary>The counts as the job's typed counters; a count it does not have is 0, one it does not know is ignored.</summary>
    public TCounters As<TCounters>() where TCounters : IJobCounters =>
        JsonSerializer.Deserialize<TCounters>(JsonSerializer.SerializeToUtf8Bytes(Counts, JsonSerializerOptions.Web), JsonSerializerOptions.Web)!;

    /// <summary>The stored form: a flat JSON object of counts, or null when there is none.</summary>
    public string? ToJson() => counts is null ? null : JsonSerializer.Serialize(Counts);

    /// <summary>
    /// Reads the stored form; null (a row of a job without counts) is none, and so is text that is not a flat object of
    /// whole numbers (a row edited by hand): a run's record, its pages and its sums still read, without counts they cannot trust.
    /// </summary>
    public static BatchCounters FromJson(string? json)
    {
        if (string.IsNullOrEmpty(json))
            return None;
        try
        {
            return From(JsonSerializer.Deserialize<Dictionary<string, int>>(json) ?? []);
        }
        catch (JsonException)
        {
            return None;
        }
    }

    public bool Equals(BatchCounters other) => Counts.Count == other.Counts.Count
        && Counts.All(c => other.Counts.TryGetValue(c.Key, out var count) && count == c.Value);

    public override bool Equals(object? obj) => obj is BatchCounters other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var (name, count) in Counts)
        {
            hash.Add(name);
            hash.Add(count);
        }
        return hash.ToHashCode();
    }

    public static bool operator ==(BatchCounters left, BatchCounters right) => left.Equals(right);

    public static bool operator !=(BatchCounters left, BatchCounters right) => !left.Equals(right);

    public override string ToString() => ToJson() ?? "{}";
}

/// <summary>
/// A job's own counters, declared as a record of <see cref="int"/> properties (e.g. re-based users and
/// days); the engine keeps them as <see cref="BatchCounters"/> and asks the record to say them in words.
/// </summary>
public interface IJobCounters
{
    /// <summary>The counts in words, for a result line or the console ("re-based 12 later days of 3 users"); null when there is nothing to say.</summary>
    string? Describe();
}

/// <summary>Counts in JSON as the flat object they are stored as (<c>{}</c> when there is none).</summary>
public sealed class BatchCountersJsonConverter : JsonConverter<BatchCounters>
{
    public override BatchCounters Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? BatchCounters.None
            : BatchCounters.From(JsonSerializer.Deserialize<Dictionary<string, int>>(ref reader, options) ?? []);

    public override void Write(Utf8JsonWriter writer, BatchCounters value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        foreach (var (name, count) in value.Counts)
            writer.WriteNumber(name, count);
        writer.WriteEndObject();
    }
}
