namespace DontGoBack.MarketSimulation;

// The extension server's wire contract (SYSTEM.md §4), as the stand-in serves it.
public sealed record UpdateAssetRequest(long? Asset, DateOnly? SnapshotDay);

public sealed record AssetUpdate(long UserId, long OriginalAsset, double Multiplier, long UpdatedAsset, DateOnly Date);

public sealed record ApiResponse(string ResultCode, string Message, AssetUpdate? Data = null)
{
    public static ApiResponse Success(AssetUpdate data) => new("S", "Update asset success", data);
    public static ApiResponse Failure(string message) => new("F", message);
}

public sealed record SimulatedAnswer(int StatusCode, ApiResponse Body);

// The bulk extension (not in the original servers): one call for many users of one day.
// Each answer has the single-user shape, in request order.
public sealed record UpdateAssetsRequest(DateOnly? SnapshotDay, IReadOnlyList<UpdateAssetsItem>? Assets);

public sealed record UpdateAssetsItem(long UserId, long? Asset);

public sealed record BulkApiResponse(string ResultCode, string Message, IReadOnlyList<ApiResponse>? Data = null);

public sealed record SimulatedBulkAnswer(int StatusCode, BulkApiResponse Body);
