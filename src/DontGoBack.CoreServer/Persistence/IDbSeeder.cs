using Microsoft.EntityFrameworkCore;

namespace DontGoBack.CoreServer.Persistence;

/// <summary>Fills a freshly migrated database with what it should start with; must leave a database that has it alone.</summary>
public interface IDbSeeder<in TContext> where TContext : DbContext
{
    Task SeedAsync(TContext context, CancellationToken cancellationToken);
}
