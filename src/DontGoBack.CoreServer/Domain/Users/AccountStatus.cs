namespace DontGoBack.CoreServer.Domain.Users;

public enum AccountStatus
{
    Active,
    Inactive,
    Suspended,
    CloseRequested,
}

public static class AccountStatusNames
{
    // Stored as the original server's enum names, which bulk SQL also filters on.
    public const string Active = "ACTIVE";
    public const string Inactive = "INACTIVE";

    public static string ToStored(AccountStatus status) => status switch
    {
        AccountStatus.Active => Active,
        AccountStatus.Inactive => Inactive,
        AccountStatus.Suspended => "SUSPENDED",
        AccountStatus.CloseRequested => "CLOSE_REQUESTED",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    public static AccountStatus FromStored(string stored) => stored switch
    {
        Active => AccountStatus.Active,
        Inactive => AccountStatus.Inactive,
        "SUSPENDED" => AccountStatus.Suspended,
        "CLOSE_REQUESTED" => AccountStatus.CloseRequested,
        _ => throw new ArgumentOutOfRangeException(nameof(stored), stored, "unknown account status"),
    };
}
