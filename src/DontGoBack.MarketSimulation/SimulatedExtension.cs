namespace DontGoBack.MarketSimulation;

/// <summary>Answers update-asset calls the way the real extension server does, one user or many.</summary>
public sealed class SimulatedExtension(MarketMoveRule rule, int maxBulkItems = SimulatedExtension.DefaultMaxBulkItems)
{
    public const int DefaultMaxBulkItems = 1_000;

    public SimulatedBulkAnswer UpdateAssets(UpdateAssetsRequest request)
    {
        if (request.SnapshotDay is not { } day)
            return new(400, new BulkApiResponse("F", "snapshotDay is required"));
        if (request.Assets is not { Count: > 0 } assets)
            return new(400, new BulkApiResponse("F", "assets must not be empty"));
        if (assets.Count > maxBulkItems)
            return new(400, new BulkApiResponse("F", $"at most {maxBulkItems} assets per call"));

        var answers = new ApiResponse[assets.Count];
        for (var i = 0; i < assets.Count; i++)
            answers[i] = UpdateAsset(assets[i].UserId, new UpdateAssetRequest(assets[i].Asset, day)).Body;
        return new(200, new BulkApiResponse("S", "Update assets success", answers));
    }

    public SimulatedAnswer UpdateAsset(long userId, UpdateAssetRequest request)
    {
        if (request.Asset is not { } asset || asset < 0)
            return new(400, ApiResponse.Failure("asset must be >= 0"));
        if (request.SnapshotDay is not { } day)
            return new(400, ApiResponse.Failure("snapshotDay is required"));

        var multiplier = rule.MultiplierFor(userId, day);
        long updated;
        try
        {
            updated = MarketMoveRule.Apply(asset, multiplier);
        }
        catch (OverflowException)
        {
            return new(400, ApiResponse.Failure("asset too large"));
        }
        return new(200, ApiResponse.Success(new AssetUpdate(userId, asset, multiplier, updated, day)));
    }
}
