using DontGoBack.CoreServer.Tests.Infrastructure;
using Npgsql;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>Sets DONTGOBACK_PG_DATA for the whole test process: nothing else may run meanwhile.</summary>
[CollectionDefinition(nameof(OwnPostgresServerTests), DisableParallelization = true)]
public sealed class OwnPostgresServerTestsCollection;

/// <summary>
/// scripts/test.sh's main cluster may live in DONTGOBACK_PG_DATA; the clusters the tests start of
/// their own (OwnPostgresServer) must never take that directory over, since their stop deletes it.
/// </summary>
[Collection(nameof(OwnPostgresServerTests))]
public sealed class OwnPostgresServerTests
{
    [Fact]
    public async Task A_tests_own_cluster_keeps_out_of_the_data_directory_DONTGOBACK_PG_DATA_names()
    {
        var main = Directory.CreateTempSubdirectory("dontgoback-main-pg-");
        // Stands for the main cluster's data, which must outlive the test's own cluster.
        var mainData = Path.Combine(main.FullName, "PG_VERSION");
        await File.WriteAllTextAsync(mainData, "15");
        var inherited = Environment.GetEnvironmentVariable("DONTGOBACK_PG_DATA");
        Environment.SetEnvironmentVariable("DONTGOBACK_PG_DATA", main.FullName);
        try
        {
            var own = new OwnPostgresServer();
            await own.InitializeAsync();
            try
            {
                await using var connection = new NpgsqlConnection(own.AdminConnectionString);
                await connection.OpenAsync();
                await using var show = new NpgsqlCommand("SHOW data_directory", connection);
                var dataDirectory = (string)(await show.ExecuteScalarAsync())!;
                Assert.NotEqual(main.FullName, dataDirectory.TrimEnd('/'));
            }
            finally
            {
                await own.DisposeAsync();
            }
            Assert.True(File.Exists(mainData), $"the own cluster's stop deleted {main.FullName}");
        }
        finally
        {
            Environment.SetEnvironmentVariable("DONTGOBACK_PG_DATA", inherited);
            if (main.Exists)
                main.Delete(recursive: true);
        }
    }
}
