using System.ComponentModel.DataAnnotations;

namespace DontGoBack.CoreServer.Domain.Users;

public sealed class DemoDataOptions
{
    public const string SectionName = "DemoData";

    /// <summary>Demo users added when the database has no users at start; 0 turns it off (production).</summary>
    [Range(0, 10_000_000)]
    public int UsersOnEmptyDatabase { get; set; } = 1_000;

    [Range(0, 100)]
    public int ActivePercent { get; set; } = 85;
}
