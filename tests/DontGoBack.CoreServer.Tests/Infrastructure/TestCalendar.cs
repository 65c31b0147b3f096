using DontGoBack.Batch.Schedule;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>The batch calendar tests count days with, made as the server makes its own from Batch:TimeZone; on the wall clock unless given one.</summary>
public static class TestCalendar
{
    /// <summary>The default batch zone's calendar on the wall clock: the day a server started now counts as today.</summary>
    public static readonly BatchCalendar Seoul = In("Asia/Seoul");

    public static BatchCalendar In(string zone, TimeProvider? time = null) =>
        new(time ?? TimeProvider.System, Options.Create(new BatchOptions { TimeZone = zone }));
}
