using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Telemetry;
using DontGoBack.CoreServer.Persistence;
using System.Reflection;

namespace DontGoBack.CoreServer.Tests.Unit;

/// <summary>
/// A value several parties observe is passed to them explicitly: no type of the core server keeps a flow-bound
/// side channel (an <see cref="AsyncLocal{T}"/>) through which a run's progress or telemetry could travel unseen.
/// </summary>
public sealed class EngineHasNoAsyncLocalTests
{
    [Fact]
    public void No_type_of_the_core_server_holds_an_AsyncLocal_in_a_field()
    {
        const BindingFlags every = BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        // The engine is a library of its own: its types and the server's are looked at.
        Assembly[] assemblies = [typeof(RunProgress).Assembly, typeof(DontGoBackDbContext).Assembly];

        var flowBound = assemblies.SelectMany(assembly => assembly.GetTypes())
            .SelectMany(type => type.GetFields(every).Select(field => (type, field)))
            .Where(f => f.field.FieldType.IsGenericType && f.field.FieldType.GetGenericTypeDefinition() == typeof(AsyncLocal<>))
            .Select(f => $"{f.type.FullName}.{f.field.Name}")
            .ToList();

        // The engine's types and the server's are in the assemblies looked at: the check cannot pass by looking at the wrong ones.
        Assert.Contains(typeof(BatchMetrics), assemblies[0].GetTypes());
        Assert.Contains(typeof(DontGoBackDbContext), assemblies[1].GetTypes());
        Assert.True(flowBound.Count == 0, $"Fields of type AsyncLocal<>: {string.Join(", ", flowBound)}");
    }
}
