using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>Each domain entity is configured by its own IEntityTypeConfiguration beside it, and the model is the migrations' model.</summary>
public sealed class DomainModelTests
{
    private const string DomainNamespace = "DontGoBack.CoreServer.Domain";

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Each_domain_entity_has_one_configuration_beside_it(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var context = database.CreateContext();
        var domainEntities = context.Model.GetEntityTypes().Select(e => e.ClrType)
            .Where(t => t.Namespace?.StartsWith(DomainNamespace, StringComparison.Ordinal) == true).ToList();
        Assert.NotEmpty(domainEntities);

        var configurations = typeof(DontGoBackDbContext).Assembly.GetTypes()
            .Where(t => t is { IsAbstract: false, IsInterface: false })
            .SelectMany(t => t.GetInterfaces()
                .Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEntityTypeConfiguration<>))
                .Select(i => (Configuration: t, Entity: i.GetGenericArguments()[0])))
            .ToList();
        foreach (var entity in domainEntities)
        {
            var own = configurations.Where(c => c.Entity == entity).Select(c => c.Configuration).ToList();
            Assert.True(own.Count == 1, $"{entity.Name} has {own.Count} IEntityTypeConfiguration classes, not one");
            Assert.Equal(entity.Namespace, own[0].Namespace);
        }
    }

    /// <summary>Moving configuration between classes must not change the model: it still equals the latest migration's snapshot.</summary>
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task The_model_has_no_change_the_migrations_lack(DatabaseProvider provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var context = database.CreateContext();

        Assert.False(context.Database.HasPendingModelChanges(), $"the {provider} model differs from its latest migration's snapshot");
    }
}
