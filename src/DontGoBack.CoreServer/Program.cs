using DontGoBack.CoreServer.AdminConsole;
using DontGoBack.CoreServer.Batch;
using DontGoBack.CoreServer.Batch.Asset;
using DontGoBack.CoreServer.Batch.User;
using DontGoBack.CoreServer.Cli;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Domain.Users;
using DontGoBack.CoreServer.Hosting;
using DontGoBack.CoreServer.InterServer;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch;
using DontGoBack.Batch.Operations;

// A configuration error, wherever it is thrown (registration, validation on start, a command),
// ends the process with exit code 2 and one line per failing setting instead of a stack trace.
ConfigurationErrors.ExitWithOneLinePerSetting();

// Read before anything is built: help, the version and mistakes are answered here (exit 0 or 2)
// without reading configuration or touching the database.
var request = CoreCommandLine.Read(args);
if (request.ExitCode is { } answered)
    return answered;

var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    // A command's own arguments are not configuration; settings then come from files and environment.
    Args = request.IsCommand ? [] : args,
    ContentRootPath = CoreServerStartup.ContentRoot(request.IsCommand ? [] : args),
});
builder.AddServiceDefaults(request);
builder.AddPersistence();
builder.AddInterServerClients();
builder.AddDemoData();
builder.AddAssets();
builder.AddBatchEngine();
builder.AddAssetBatch();
builder.AddUserBatch();
builder.AddHistoryBatch();
builder.AddAdminConsole();
builder.AddCoreServerStartup();
builder.AddCoreCommands(request);

var app = builder.Build();
// The order is part of the guard: problems, the client address and the rate limit first; then the internal
// guard (security headers, cross-origin refusal, address and token) ahead of the console's files and pages;
// the output cache last, so a cached answer is still rate-limited and guarded.
app.UseHttpSurface();
app.UseInternalAccess();
app.UseAdminConsole();
app.UseOutputCache();
app.MapAssets();
app.MapBatchRuns();
app.MapDefaultEndpoints();
app.MapAdminConsole();

if (request.IsCommand)
    return await request.RunAsync(app.Services);

// Bad settings end the process here, one line each (exit 2). The database is prepared before the host
// starts, so one that cannot be reached or written ends it in one line too (exit 1), not with the host's
// stack trace. (A test host never gets here: it prepares the database as its host starts.)
var startup = app.Services.GetRequiredService<CoreServerStartup>();
startup.CheckSettings();
try
{
    await startup.PrepareAsync(seed: true, app.Lifetime.ApplicationStopping);
}
catch (Exception e) when (CoreServerStartup.DatabaseFailure(e) is { } failure)
{
    await Console.Error.WriteLineAsync($"The server cannot start: {failure}");
    return CoreCommandLine.RunFailed;
}
await app.RunAsync();
return 0;

public partial class Program;
