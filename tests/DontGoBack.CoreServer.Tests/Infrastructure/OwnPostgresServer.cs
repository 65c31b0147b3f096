using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// A PostgreSQL server of one test class's own (a class fixture: its tests run one after
/// another), on a free port, that a test may stop and start again (an outage) without touching
/// the server every other test shares. Run through scripts/postgres.sh, the same script that
/// starts the shared one.
/// </summary>
public sealed class OwnPostgresServer : IAsyncLifetime
{
    private int _port;

    public string AdminConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        _port = FreePort();
        AdminConnectionString = (await RunScriptAsync("start", _port)).Trim().Split('\n')[^1];
    }

    public Task DisposeAsync() => RunScriptAsync("stop", _port);

    /// <summary>Stops the server (fast shutdown: its sessions are ended at once), keeping its data.</summary>
    /// <returns>The outage: ending it starts the server again; disposing it does so if the test did not get that far.</returns>
    public async Task<Outage> StopAsync()
    {
        await RunScriptAsync("pause", _port);
        return new Outage(_port);
    }

    public sealed class Outage(int port) : IAsyncDisposable
    {
        private bool _over;

        /// <summary>Starts the server again on its data; returns once it accepts connections.</summary>
        public async Task EndAsync()
        {
            if (_over)
                return;
            await RunScriptAsync("resume", port);
            _over = true;
        }

        public async ValueTask DisposeAsync() => await EndAsync();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> RunScriptAsync(string action, int port)
    {
        var start = new ProcessStartInfo("bash", [Script(), action, port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // Never the data directory the environment names (scripts/test.sh's main cluster may live
            // there): this server's start would empty it and its stop delete it.
            Environment = { ["DONTGOBACK_PG_DATA"] = DataDirectory(port) },
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"postgres.sh {action} {port} exited {process.ExitCode}: {await error}");
        return await output;
    }

    /// <summary>The script's own default for a cluster on <paramref name="port"/>: one directory per server.</summary>
    private static string DataDirectory(int port) => $"/tmp/dontgoback-pg-{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>scripts/postgres.sh of the checkout the tests were built from.</summary>
    private static string Script()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var script = Path.Combine(directory.FullName, "scripts", "postgres.sh");
            if (File.Exists(script))
                return script;
        }
        throw new FileNotFoundException($"scripts/postgres.sh not found above {AppContext.BaseDirectory}");
    }
}
