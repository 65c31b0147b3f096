using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using DontGoBack.MarketSimulation;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// The extension server faked at the HTTP boundary: answers with the stand-in's real rule,
/// counts calls per user and injects per-user faults.
/// </summary>
public sealed partial class FakeExtensionServer : HttpMessageHandler
{
    public const string Salt = "test-salt";
    public MarketMoveRule Rule { get; } = new(Salt);
    private readonly SimulatedExtension _extension;
    private readonly ConcurrentDictionary<long, int> _calls = new();
    private readonly ConcurrentDictionary<long, Fault> _faults = new();
    private readonly ConcurrentQueue<TimeSpan> _requestTimes = new();
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private int _bulkCalls;

    /// <summary>Added before every answer, to stretch a run.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Run before every answer, after <see cref="Latency"/>: a latency of the test's own, e.g. on the server's clock (<see cref="PinnedWallClock.Advance"/>).</summary>
    public Action? BeforeAnswer { get; set; }

    /// <summary>False: the bulk endpoint answers 404, like the original extension server.</summary>
    public bool SupportsBulk { get; set; }

    public int BulkCalls => Volatile.Read(ref _bulkCalls);

    /// <summary>When each HTTP request arrived, since the fake was made.</summary>
    public IReadOnlyCollection<TimeSpan> RequestTimes => _requestTimes;

    public FakeExtensionServer() => _extension = new SimulatedExtension(Rule);

    public enum Fault
    {
        ServerError,
        Hang,
        WrongUserInAnswer,
        NegativeMultiplier,
        BadRequest,
        /// <summary>Holds the call until <see cref="ReleaseBlocked"/>.</summary>
        Block,
    }

    private readonly TaskCompletionSource _blockedCallArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>When set, a call whose bearer token this rejects gets 401.</summary>
    public Func<string?, bool>? AcceptsToken { get; set; }

    public Task BlockedCallArrived => _blockedCallArrived.Task;
    public void ReleaseBlocked() => _release.TrySetResult();

    private volatile SemaphoreSlim? _pace;

    /// <summary>From now on every call waits for a permit from <see cref="LetThrough"/>: the test sets the run's pace, whatever the machine's load.</summary>
    public void HoldCalls() => _pace = new SemaphoreSlim(0);

    public void LetThrough(int calls) => (_pace ?? throw new InvalidOperationException("Calls are not held.")).Release(calls);

    /// <summary>Lets every held and later call through.</summary>
    public void StopHolding()
    {
        var pace = _pace;
        _pace = null;
        pace?.Release(1_000_000);
    }

    public void Inject(Fault fault, params long[] userIds)
    {
        foreach (var id in userIds)
            _faults[id] = fault;
    }

    public void ClearFaults() => _faults.Clear();

    public int CallsFor(long userId) => _calls.GetValueOrDefault(userId);
    public int TotalCalls => _calls.Values.Sum();

    /// <summary>The amount the real rule gives this user for this day from this base.</summary>
    public long Expected(long userId, DateOnly day, long baseAmount) =>
        MarketMoveRule.Apply(baseAmount, Rule.MultiplierFor(userId, day));

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _requestTimes.Enqueue(_clock.Elapsed);
        if (_pace is { } pace)
            await pace.WaitAsync(cancellationToken);
        if (Latency > TimeSpan.Zero)
            await Task.Delay(Latency, cancellationToken);
        BeforeAnswer?.Invoke();
        if (request.RequestUri!.AbsolutePath == "/msa/ext/api/update-assets")
            return await UpdateAssetsAsync(request, cancellationToken);
        var match = UpdateAssetPath().Match(request.RequestUri!.AbsolutePath);
        if (!match.Success)
            return new HttpResponseMessage(HttpStatusCode.NotFound);
        var userId = long.Parse(match.Groups[1].Value);
        if (AcceptsToken is { } accepts && !accepts(request.Headers.Authorization?.Parameter))
            return new HttpResponseMessage(HttpStatusCode.Unauthorized);
        _calls.AddOrUpdate(userId, 1, (_, n) => n + 1);
        // Read as bytes: the retry pipeline sends the same content again, and a consumed stream cannot be read twice.
        var call = JsonSerializer.Deserialize<UpdateAssetRequest>(
            await request.Content!.ReadAsByteArrayAsync(cancellationToken), JsonSerializerOptions.Web)!;

        switch (_faults.GetValueOrDefault(userId, (Fault)(-1)))
        {
            case Fault.ServerError:
                return Json(HttpStatusCode.InternalServerError, ApiResponse.Failure("Unexpected error occurred."));
            case Fault.Hang:
                await Task.Delay(Timeout.Infinite, cancellationToken);
                break;
            case Fault.Block:
                _blockedCallArrived.TrySetResult();
                await _release.Task.WaitAsync(cancellationToken);
                break;
            case Fault.BadRequest:
                return Json(HttpStatusCode.BadRequest, ApiResponse.Failure("asset must be >= 0"));
            case Fault.WrongUserInAnswer:
            {
                var answer = _extension.UpdateAsset(userId, call);
                return Json(HttpStatusCode.OK, answer.Body with { Data = answer.Body.Data! with { UserId = userId + 1 } });
            }
            case Fault.NegativeMultiplier:
            {
                var answer = _extension.UpdateAsset(userId, call);
                return Json(HttpStatusCode.OK, answer.Body with { Data = answer.Body.Data! with { Multiplier = -1.01 } });
            }
        }

        var ok = _extension.UpdateAsset(userId, call);
        return Json((HttpStatusCode)ok.StatusCode, ok.Body);
    }

    private async Task<HttpResponseMessage> UpdateAssetsAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!SupportsBulk)
            return new HttpResponseMessage(HttpStatusCode.NotFound);
        Interlocked.Increment(ref _bulkCalls);
        var call = JsonSerializer.Deserialize<UpdateAssetsRequest>(
            await request.Content!.ReadAsByteArrayAsync(cancellationToken), JsonSerializerOptions.Web)!;
        var answers = new List<ApiResponse>();
        foreach (var item in call.Assets!)
        {
            _calls.AddOrUpdate(item.UserId, 1, (_, n) => n + 1);
            var answer = _extension.UpdateAsset(item.UserId, new UpdateAssetRequest(item.Asset, call.SnapshotDay)).Body;
            answers.Add(_faults.GetValueOrDefault(item.UserId, (Fault)(-1)) switch
            {
                Fault.WrongUserInAnswer => answer with { Data = answer.Data! with { UserId = item.UserId + 1 } },
                Fault.NegativeMultiplier => answer with { Data = answer.Data! with { Multiplier = -1.01 } },
                Fault.BadRequest => ApiResponse.Failure("asset must be >= 0"),
                _ => answer,
            });
        }
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(new BulkApiResponse("S", "ok", answers)) };
    }

    private static HttpResponseMessage Json(HttpStatusCode status, ApiResponse body) =>
        new(status) { Content = JsonContent.Create(body) };

    [GeneratedRegex(@"^/msa/ext/api/update-asset/(-?\d+)$")]
    private static partial Regex UpdateAssetPath();
}
