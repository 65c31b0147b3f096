using System.ComponentModel.DataAnnotations;

namespace DontGoBack.CoreServer.Batch.Common;

public sealed class BatchOptions
{
    public const string SectionName = "Batch";

    /// <summary>This process's name in run history; default host name and process id.</summary>
    public string? NodeName { get; set; }

    /// <summary>A running run whose heartbeat is older than this is taken to be dead and may be taken over.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Batch:LeaseTimeout must be between {1} and {2}.")]
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Missed days run at start-up and at each trigger, oldest first, at most this many; older ones are reported.</summary>
    [Range(0, 366, ErrorMessage = "Batch:MaxCatchUpDays must be between {1} and {2}.")]
    public int MaxCatchUpDays { get; set; } = 7;

    public string ResolveNodeName() => string.IsNullOrWhiteSpace(NodeName) ? $"{Environment.MachineName}:{Environment.ProcessId}" : NodeName;
}
