using System.Reflection;
using DontGoBack.CoreServer.Batch.Common;

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
        var assembly = typeof(RunProgress).Assembly;

        var flowBound = assembly.GetTypes()
            .SelectMany(type => type.GetFields(every).Select(field => (type, field)))
            .Where(f => f.field.FieldType.IsGenericType && f.field.FieldType.GetGenericTypeDefinition() == typeof(AsyncLocal<>))
            .Select(f => $"{f.type.FullName}.{f.field.Name}")
            .ToList();

        // The engine's types are in the assembly looked at: the check cannot pass by looking at the wrong one.
        Assert.Contains(typeof(BatchMetrics), assembly.GetTypes());
        Assert.True(flowBound.Count == 0, $"Fields of type AsyncLocal<>: {string.Join(", ", flowBound)}");
    }
}
