namespace DontGoBack.MarketSimulation;

/// <summary>Answers one update-asset call the way the real extension server does.</summary>
public sealed class SimulatedExtension(MarketMoveRule rule)
{
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
