using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;

namespace DontGoBack.Batch.Http;

/// <summary>A status a handler answers with a problem, named as a type so the handler's signature states it.</summary>
public interface IProblemStatus
{
    static abstract int Code { get; }
}

/// <summary>The problem statuses the handlers answer, the engine's and the domains' alike (see <see cref="Problem{TStatus}"/>).</summary>
public static class ProblemStatus
{
    public sealed class BadRequest : IProblemStatus
    {
        public static int Code => StatusCodes.Status400BadRequest;
    }

    public sealed class NotFound : IProblemStatus
    {
        public static int Code => StatusCodes.Status404NotFound;
    }

    public sealed class Conflict : IProblemStatus
    {
        public static int Code => StatusCodes.Status409Conflict;
    }

    public sealed class UnprocessableEntity : IProblemStatus
    {
        public static int Code => StatusCodes.Status422UnprocessableEntity;
    }

    public sealed class ServiceUnavailable : IProblemStatus
    {
        public static int Code => StatusCodes.Status503ServiceUnavailable;
    }
}

/// <summary>
/// A problem (application/problem+json, written as <see cref="TypedResults.Problem(string?, string?, int?, string?, string?, IDictionary{string, object?}?, IDictionary{string, object?}?)"/>
/// writes it) whose status is part of the handler's return type: like <c>Ok&lt;T&gt;</c> it declares itself in the
/// OpenAPI document, which a <see cref="Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult"/> of any status cannot.
/// </summary>
/// <param name="extensions">Members the problem carries beside its title and detail (an operator action's `auditId`, a run's `result`).</param>
public sealed class Problem<TStatus>(string title, string? detail, IDictionary<string, object?>? extensions = null)
    : IResult, IStatusCodeHttpResult, IEndpointMetadataProvider
    where TStatus : IProblemStatus
{
    public int? StatusCode => TStatus.Code;

    public string Title => title;

    public string? Detail => detail;

    public IDictionary<string, object?>? Extensions => extensions;

    public Task ExecuteAsync(HttpContext httpContext) =>
        TypedResults.Problem(statusCode: TStatus.Code, title: title, detail: detail, extensions: extensions).ExecuteAsync(httpContext);

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(TStatus.Code, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), ["application/problem+json"]));
}
