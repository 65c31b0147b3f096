namespace DontGoBack.CoreServer.InterServer.Extension;

/// <summary>What this process has learned about the extension server; shared by all client instances.</summary>
public sealed class ExtensionCapabilities
{
    private volatile bool _bulkUnsupported;

    public bool BulkUnsupported => _bulkUnsupported;

    public void MarkBulkUnsupported() => _bulkUnsupported = true;
}
