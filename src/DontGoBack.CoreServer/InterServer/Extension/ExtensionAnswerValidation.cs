using DontGoBack.CoreServer.Domain.Assets;

namespace DontGoBack.CoreServer.InterServer.Extension;

/// <summary>
/// Turns the extension's answer into an amount to store, or a permanent failure with its reason.
/// The stored amount is ours: round(base × multiplier).
/// </summary>
internal static class ExtensionAnswerValidation
{
    /// <summary>
    /// Slack on the daily bound for a multiplier computed as 1 ± bound in another process's
    /// floating point; far below any move that matters (1e-9 of 100 billion KRW is 100 KRW).
    /// </summary>
    private const double BoundSlack = 1e-9;

    // Reasons are stored and read by operators: invariant formatting, whatever the server's culture.
    /// <param name="maxDailyMove">The contract's bound: the multiplier must lie in [1 − it, 1 + it].</param>
    public static UpdateAssetOutcome Validate(long userId, long baseAmount, DateOnly day, double maxDailyMove, UpdateAssetAnswer answer)
    {
        if (answer.ResultCode is null || !answer.ResultCode.StartsWith('S'))
            return Invalid($"result code '{answer.ResultCode}': {answer.Message}");
        if (answer.Data is not { } data)
            return Invalid($"answer has no data");
        if (data.UserId != userId)
            return Invalid($"answer is for user {data.UserId}, not {userId}");
        if (data.Date != day)
            return Invalid($"answer is for day {data.Date:O}, not {day:O}");
        if (data.OriginalAsset != baseAmount)
            return Invalid($"answer's original asset {data.OriginalAsset} is not the base {baseAmount} sent");
        if (data.Multiplier is not { } multiplier || !double.IsFinite(multiplier) || multiplier <= 0)
            return Invalid($"multiplier {data.Multiplier} is not finite and positive");
        if (Math.Abs(multiplier - 1) > maxDailyMove + BoundSlack)
            return Invalid($"multiplier {multiplier} is outside the daily bound [{1 - maxDailyMove}, {1 + maxDailyMove}]");
        if (data.UpdatedAsset is not >= 0)
            return Invalid($"updated asset {data.UpdatedAsset} is not >= 0");
        if (AssetAmount.Apply(baseAmount, multiplier) is not { } amount)
            return Invalid($"base {baseAmount} × {multiplier} does not fit in a 64-bit amount");
        // One won of slack for a server that rounds half to even.
        if (Math.Abs(data.UpdatedAsset.Value - amount) > 1)
            return Invalid($"updated asset {data.UpdatedAsset} is not round({baseAmount} × {multiplier}) = {amount}");
        return new AssetUpdated(amount, multiplier);
    }

    private static AssetUpdateFailed Invalid(FormattableString reason) =>
        new(FailureClass.Permanent, "invalid answer: " + FormattableString.Invariant(reason));
}
