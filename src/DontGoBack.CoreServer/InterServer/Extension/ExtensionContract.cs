namespace DontGoBack.CoreServer.InterServer.Extension;

// Our side of the extension server's contract (SYSTEM.md §4); every field is optional here
// because the answer is validated, not trusted.
internal sealed record UpdateAssetCall(long Asset, DateOnly SnapshotDay);

internal sealed record UpdateAssetsCall(DateOnly SnapshotDay, IReadOnlyList<UpdateAssetsCallItem> Assets);

internal sealed record UpdateAssetsCallItem(long UserId, long Asset);

internal sealed record UpdateAssetsAnswer(string? ResultCode, string? Message, IReadOnlyList<UpdateAssetAnswer?>? Data);

/// <summary>One user's refresh to ask the extension for: their id and the base amount of the day.</summary>
public readonly record struct AssetUpdateRequest(long UserId, long BaseAmount);

internal sealed record UpdateAssetAnswer(string? ResultCode, string? Message, UpdateAssetAnswerData? Data);

internal sealed record UpdateAssetAnswerData(long? UserId, long? OriginalAsset, double? Multiplier, long? UpdatedAsset, DateOnly? Date);

public abstract record UpdateAssetOutcome;

public sealed record AssetUpdated(long Amount, double Multiplier) : UpdateAssetOutcome;

public sealed record AssetUpdateFailed(Domain.Assets.FailureClass Class, string Reason) : UpdateAssetOutcome;
