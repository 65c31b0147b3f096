using DontGoBack.CoreServer.Batch.Asset.Job;
using DontGoBack.CoreServer.Batch.Asset.UseCase;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DontGoBack.CoreServer.Batch.Asset;

public static class AssetBatchExtensions
{
    /// <summary>Registers the daily asset refresh on the batch engine: its store, use case, failures and job.</summary>
    public static IHostApplicationBuilder AddAssetBatch(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<AssetRefreshStore>(services =>
            services.GetRequiredService<IOptions<DatabaseOptions>>().Value.Provider switch
            {
                DatabaseProvider.Postgres => new PostgresAssetRefreshStore(
                    services.GetRequiredService<NpgsqlDataSource>(), services.GetRequiredService<DatabaseRetry>()),
                _ => new SqliteAssetRefreshStore(services.GetRequiredService<SqliteDatabase>(), services.GetRequiredService<DatabaseRetry>()),
            });
        builder.Services.AddScoped<RefreshAssetsUseCase>();
        return builder.AddDailyJob<AssetRefreshJob, AssetRefreshOptions, AssetRefreshFailures>(AssetRefreshJob.Definition);
    }
}
