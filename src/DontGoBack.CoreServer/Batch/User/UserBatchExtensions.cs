using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.Batch.Runs;

namespace DontGoBack.CoreServer.Batch.User;

public static class UserBatchExtensions
{
    /// <summary>Registers the daily user dormancy on the batch engine, with the activity endpoint that feeds it.</summary>
    public static IHostApplicationBuilder AddUserBatch(this IHostApplicationBuilder builder)
    {
        builder.Services.AddScoped<UserActivity>();
        return builder.AddDailyJob<UserDormancyJob, UserDormancyOptions>(UserDormancyJob.Definition, endpoints: app => app.MapUserActivity());
    }
}
