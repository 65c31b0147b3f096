namespace DontGoBack.CoreServer.InterServer.Extension;

// Our side of the extension server's contract (SYSTEM.md §4); every field is optional here
// because the answer is validated, not trusted.
internal sealed record UpdateAssetCall(long Asset, DateOnly SnapshotDay);

internal sealed record UpdateAssetAnswer(string? ResultCode, string? Message, UpdateAssetAnswerData? Data);

internal sealed record UpdateAssetAnswerData(long? UserId, long? OriginalAsset, double? Multiplier, long? UpdatedAsset, DateOnly? Date);

public abstract record UpdateAssetOutcome;

public sealed record AssetUpdated(long Amount, double Multiplier) : UpdateAssetOutcome;

public sealed record AssetUpdateFailed(Domain.Assets.FailureClass Class, string Reason) : UpdateAssetOutcome;
