
using DontGoBack.Batch.Schedule;

namespace DontGoBack.CoreServer.Cli;

/// <summary>
/// How a command writes times: in the zone `--zone` names, else the batch zone, each labelled as the console
/// labels its times (<see cref="ZoneLabel"/>), e.g. "2026-12-07 11:08:02 KST". One formatter for every command.
/// </summary>
public sealed record CommandTime(TimeZoneInfo Zone)
{
    /// <summary>The zone `--zone` asked for, else the batch zone.</summary>
    public static CommandTime Of(System.CommandLine.ParseResult parsed, BatchCalendar calendar) =>
        new(parsed.GetValue<TimeZoneInfo?>(CommandChecks.ZoneOptionName) ?? calendar.Zone);

    /// <summary>For a column's heading, e.g. "started (Asia/Seoul)": the zone's id, where each cell carries its label.</summary>
    public string Heading(string column) => $"{column} ({Zone.Id})";

    public string Format(DateTimeOffset instant) => ZoneLabel.Format(instant, Zone);

    public string Format(DateTimeOffset? instant) => instant is { } at ? Format(at) : "";
}
