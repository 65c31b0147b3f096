using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace DontGoBack.CoreServer.Persistence;

// Used only by `dotnet ef migrations add`; the connection strings are never opened.
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteDontGoBackDbContext>
{
    public SqliteDontGoBackDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteDontGoBackDbContext>()
            .UseSqlite("Data Source=design-time.db").UseSnakeCaseNamingConvention().Options);
}

internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresDontGoBackDbContext>
{
    public PostgresDontGoBackDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresDontGoBackDbContext>()
            .UseNpgsql("Host=localhost").UseSnakeCaseNamingConvention().Options);
}
