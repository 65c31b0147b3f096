using DontGoBack.Batch.Schedule;

namespace DontGoBack.CoreServer.Batch.History;

/// <summary>
/// The HistoryMaintenance section: when the history lifecycle runs (by default 05:00, after the day's refresh, to be
/// through by 08:00). What it keeps is the History section's (<see cref="Domain.Assets.HistoryOptions"/>).
/// </summary>
public sealed class HistoryMaintenanceOptions : DailyJobOptions
{
    public const string SectionName = "HistoryMaintenance";

    public HistoryMaintenanceOptions()
    {
        Cron = "0 0 5 * * ?";
        CompleteBy = new TimeOnly(8, 0);
    }

    protected override string Section => SectionName;
}
