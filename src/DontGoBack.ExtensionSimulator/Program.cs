using DontGoBack.MarketSimulation;

// Stand-in for the auth and extension servers, speaking their contracts on one port.
var builder = WebApplication.CreateBuilder(args);
builder.AddExtensionSimulator();

var app = builder.Build();
app.MapExtensionSimulator();
app.Run();
