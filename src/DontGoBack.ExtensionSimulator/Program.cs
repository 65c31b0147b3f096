using DontGoBack.ExtensionSimulator;
using DontGoBack.MarketSimulation;

// Stand-in for the auth and extension servers, speaking their contracts on one port.
var builder = WebApplication.CreateBuilder(args);
builder.AddExtensionSimulator();
// The chaos campaign's faults and call log (bench/chaos.sh), only when it asks for them with Chaos:CallLog.
var chaos = ChaosControls.IsEnabled(builder.Configuration);
if (chaos)
    builder.AddChaosControls();

var app = builder.Build();
if (chaos)
    app.UseChaosControls();
app.MapExtensionSimulator();
app.Run();
