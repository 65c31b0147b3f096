using DontGoBack.CoreServer.Domain.Assets;

namespace DontGoBack.CoreServer.InterServer.Extension;

/// <summary>
/// The extension server cannot serve anyone right now (credentials refused, circuit open):
/// the run stops early instead of failing every remaining user one by one.
/// </summary>
public sealed class ExtensionUnavailableException(FailureClass failureClass, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public FailureClass FailureClass { get; } = failureClass;
}
