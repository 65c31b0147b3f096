namespace DontGoBack.CoreServer.Tests.Infrastructure;

public static class Eventually
{
    /// <summary>Polls until the condition holds, failing the test when it does not within the timeout.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"condition not met within {timeout}");
            await Task.Delay(100);
        }
    }
}
