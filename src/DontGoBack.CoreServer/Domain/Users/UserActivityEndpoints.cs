using DontGoBack.CoreServer.Hosting;
using DontGoBack.Batch.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DontGoBack.CoreServer.Domain.Users;

/// <summary>POST /internal/users/{id}/activity: records that the user was active; wakes a dormant account.</summary>
public static class UserActivityEndpoints
{
    public static IEndpointRouteBuilder MapUserActivity(this IEndpointRouteBuilder app)
    {
        app.MapInternalGroup("/users").WithTags(ApiDescription.Tags.Users)
            .MapPost("/{userId:long}/activity", RecordAsync)
            // Never the handler's answer: the document has listed it for a request refused before the handler, and keeps it.
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .WithSummary("Record that a user was active")
            .WithDescription("Stamps the user's last activity with the current time; a dormant account becomes active again "
                + "(`reactivated` is true). userId is a whole number; "
                + "an unknown user answers 404. No body.");
        return app;
    }

    private static async Task<Results<Ok<ActivityResponse>, Problem<ProblemStatus.NotFound>>> RecordAsync(
        long userId, UserActivity activity, CancellationToken cancellationToken) =>
        await activity.RecordAsync(userId, cancellationToken) switch
        {
            ActivityOutcome.Recorded recorded => TypedResults.Ok(new ActivityResponse(
                recorded.UserId, AccountStatusNames.ToStored(recorded.Status), recorded.LastActivityAt, recorded.Reactivated)),
            ActivityOutcome.UserNotFound => new Problem<ProblemStatus.NotFound>("No such user", $"User {userId} does not exist."),
            var other => throw new InvalidOperationException($"unhandled activity outcome {other}"),
        };

    public sealed record ActivityResponse(long UserId, string Status, DateTimeOffset LastActivityAt, bool Reactivated);
}
