using DontGoBack.Batch.Storage;
using Mono.Cecil;
using NetArchTest.Rules;

namespace DontGoBack.CoreServer.Tests.Unit;

/// <summary>
/// The engine (DontGoBack.Batch) knows no domain: it uses nothing of the core server, no namespace
/// of users, assets or snapshots, and none of its types is named after them. A domain concept the
/// engine needs is a host's to give it (a job, its failures, its counters), not a type to reach for.
/// </summary>
public sealed class EngineArchitectureTests
{
    private static readonly System.Reflection.Assembly Engine = typeof(BatchEngineDbContext).Assembly;
    private const string DomainWords = "Asset|User|Snapshot";

    [Fact]
    public void The_engine_depends_on_nothing_of_the_core_server()
    {
        var result = Types.InAssembly(Engine).ShouldNot().HaveDependencyOn("DontGoBack.CoreServer").GetResult();

        Assert.True(result.IsSuccessful, $"Engine types that use the core server: {Failing(result)}");
    }

    [Fact]
    public void No_type_of_the_engine_is_named_after_the_domain()
    {
        // Compiler-made types (closures, state machines) are named after methods, not concepts.
        var result = Types.InAssembly(Engine).That().DoNotHaveNameStartingWith("<")
            .ShouldNot().HaveNameMatching(DomainWords).GetResult();

        Assert.True(result.IsSuccessful, $"Engine types named after the domain: {Failing(result)}");
    }

    [Fact]
    public void The_engine_uses_no_namespace_named_after_the_domain()
    {
        // NetArchTest matches dependencies by the start of a namespace; a word anywhere in one needs the references read.
        using var module = ModuleDefinition.ReadModule(Engine.Location);
        var used = module.GetTypeReferences().Select(NamespaceOf)
            .Concat(module.GetTypes().Select(NamespaceOf))
            .Distinct()
            .ToList();

        Assert.Contains("DontGoBack.Batch.Runs", used);
        var domain = used.Where(n => System.Text.RegularExpressions.Regex.IsMatch(n, DomainWords)).ToList();
        Assert.True(domain.Count == 0, $"Domain namespaces the engine uses: {string.Join(", ", domain)}");
    }

    private static string NamespaceOf(TypeReference type)
    {
        while (type.DeclaringType is { } outer)
            type = outer;
        return type.Namespace;
    }

    private static string Failing(TestResult result) => string.Join(", ", result.FailingTypeNames ?? []);
}
