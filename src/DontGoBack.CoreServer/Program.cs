using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Batch.Common;
using DontGoBack.CoreServer.Cli;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.InterServer;
using DontGoBack.CoreServer.Persistence;
using Microsoft.Extensions.DependencyInjection.Extensions;

var isCommand = CoreCommands.IsCommand(args);
// A command's own arguments are not configuration; settings then come from files and environment.
var builder = WebApplication.CreateBuilder(isCommand ? [] : args);
if (isCommand)
{
    // Standard output belongs to the command's result (its last line may be JSON).
    builder.Logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
}

builder.Services.TryAddSingleton(TimeProvider.System);
builder.AddHttpSurface();
builder.AddPersistence();
builder.AddInterServerClients();
builder.AddDemoData();
builder.AddInternalAccess();
builder.AddAssets();
builder.AddBatchCommon();
builder.AddAssetBatch();

var app = builder.Build();
app.UseHttpSurface();
app.UseInternalAccess();
app.MapAssets();
app.MapBatchRuns();
app.MapAssetBatch();

if (isCommand)
    return await CoreCommands.RunAsync(app.Services, args);

await CoreServerStartup.PrepareAsync(app.Services, seedEmptyDatabase: true, app.Lifetime.ApplicationStopping);
await app.RunAsync();
return 0;

public partial class Program;
