using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

public static class Problems
{
    /// <summary>Asserts an RFC 9457 problem answer with this status whose detail mentions the text.</summary>
    public static async Task<ProblemDetails> AssertProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string? detailMentions = null)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<ProblemDetails>();
        Assert.Equal((int)status, problem!.Status);
        if (detailMentions is not null)
            Assert.Contains(detailMentions, problem.Detail);
        return problem;
    }
}
