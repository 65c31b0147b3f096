using DontGoBack.Batch.Schedule;
using System.ComponentModel.DataAnnotations;

namespace DontGoBack.CoreServer.Batch.User;

/// <summary>The UserDormancy section: the schedule (by default 02:00, before the asset refresh) and when an account counts as dormant.</summary>
public sealed class UserDormancyOptions : DailyJobOptions
{
    public const string SectionName = "UserDormancy";

    public UserDormancyOptions() => Cron = "0 0 2 * * ?";

    protected override string Section => SectionName;

    /// <summary>An ACTIVE user without activity for this many days before the run's day becomes INACTIVE, counted from the later of the last activity and the account's opening day.</summary>
    [Range(1, 36_500, ErrorMessage = "UserDormancy:AfterDays must be between {1} and {2}.")]
    public int AfterDays { get; set; } = 365;
}
