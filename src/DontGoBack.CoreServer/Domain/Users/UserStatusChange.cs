namespace DontGoBack.CoreServer.Domain.Users;

/// <summary>One change of a user's account status and why (dormancy, activity after dormancy); the history only grows.</summary>
public sealed class UserStatusChange
{
    public long Id { get; set; }
    public long UserId { get; set; }
    public AccountStatus FromStatus { get; set; }
    public AccountStatus ToStatus { get; set; }
    public string Reason { get; set; } = "";
    public DateTimeOffset ChangedAt { get; set; }
}
