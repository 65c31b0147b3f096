using System.Collections.Concurrent;
using System.Data.Common;
using System.Text.RegularExpressions;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace DontGoBack.CoreServer.Tests.Infrastructure;

/// <summary>
/// Sees every statement the server's DbContexts send, with the context that sent it: which of them
/// keep the batch engine's books (the batch_run tables) and which do a job's work on users; counts
/// statements by their text; and can hold the first statement of a kind before it is sent, so a
/// test decides what runs beside it.
/// </summary>
public sealed partial class CommandWatch : DbCommandInterceptor
{
    private readonly ConcurrentQueue<(DbContext Context, string Sql)> _sent = new();
    private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Func<string, bool>? _hold;

    /// <summary>Watches every context of a server on <paramref name="provider"/>: pass to <see cref="CoreServerApp.TestServices"/>.</summary>
    public Action<IServiceCollection> On(DatabaseProvider provider) => services =>
    {
        // The provider's own context type: the one both the scopes' contexts and any factory's are built as.
        if (provider == DatabaseProvider.Sqlite)
            services.ConfigureDbContext<SqliteDontGoBackDbContext>(options => options.AddInterceptors(this));
        else
            services.ConfigureDbContext<PostgresDontGoBackDbContext>(options => options.AddInterceptors(this));
    };

    /// <summary>From now on, the first statement whose text matches waits, unsent, until <see cref="Release"/>.</summary>
    public void HoldFirst(Func<string, bool> match) => _hold = match;

    /// <summary>Completes when a held statement is waiting.</summary>
    public Task Holding => _holding.Task;

    public void Release() => _release.TrySetResult();

    /// <summary>Forgets the statements sent so far (the migrations', a test's set-up): what follows is what the test looks at.</summary>
    public void Forget() => _sent.Clear();

    /// <summary>Statements sent (and answered) so far whose text matches.</summary>
    public int Count(Func<string, bool> match) => _sent.Count(sent => match(sent.Sql));

    /// <summary>A statement of the engine's books: run history, leases, progress, partitions.</summary>
    public static bool IsBookkeeping(string sql) => Bookkeeping().IsMatch(sql);

    /// <summary>A statement of a job's work on the users (and not of the books).</summary>
    public static bool IsUsersWork(string sql) => !IsBookkeeping(sql) && Users().IsMatch(sql);

    /// <summary>What each context that sent statements of the books and of a job's work both sent, one line per context.</summary>
    public IReadOnlyList<string> SharedContexts()
    {
        var sent = _sent.ToList();
        var books = sent.Where(s => IsBookkeeping(s.Sql)).Select(s => s.Context).ToHashSet(ReferenceEqualityComparer.Instance);
        var work = sent.Where(s => IsUsersWork(s.Sql)).Select(s => s.Context).ToHashSet(ReferenceEqualityComparer.Instance);
        return sent.GroupBy(s => s.Context, ReferenceEqualityComparer.Instance).Where(g => books.Contains(g.Key!) && work.Contains(g.Key!))
            .Select(g => string.Join(" | ", g.Select(s => s.Sql.ReplaceLineEndings(" ")[..Math.Min(120, s.Sql.Length)]))).ToList();
    }

    public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        await HoldIfFirstAsync(command);
        return result;
    }

    public override async ValueTask<InterceptionResult<object>> ScalarExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        await HoldIfFirstAsync(command);
        return result;
    }

    public override async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        await HoldIfFirstAsync(command);
        return result;
    }

    public override ValueTask<DbDataReader> ReaderExecutedAsync(
        DbCommand command, CommandExecutedEventData eventData, DbDataReader result, CancellationToken cancellationToken = default)
    {
        Sent(command, eventData);
        return ValueTask.FromResult(result);
    }

    public override ValueTask<object?> ScalarExecutedAsync(
        DbCommand command, CommandExecutedEventData eventData, object? result, CancellationToken cancellationToken = default)
    {
        Sent(command, eventData);
        return ValueTask.FromResult(result);
    }

    public override ValueTask<int> NonQueryExecutedAsync(
        DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        Sent(command, eventData);
        return ValueTask.FromResult(result);
    }

    private void Sent(DbCommand command, CommandEventData eventData)
    {
        if (eventData.Context is { } context)
            _sent.Enqueue((context, command.CommandText));
    }

    private async Task HoldIfFirstAsync(DbCommand command)
    {
        if (_hold is { } match && match(command.CommandText) && Interlocked.Exchange(ref _hold, null) is not null)
        {
            _holding.TrySetResult();
            await _release.Task;
        }
    }

    [GeneratedRegex(@"\bbatch_run")]
    private static partial Regex Bookkeeping();

    [GeneratedRegex(@"\busers\b")]
    private static partial Regex Users();
}
