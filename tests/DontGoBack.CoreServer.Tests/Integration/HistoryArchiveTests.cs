using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DontGoBack.Batch.Runs;
using DontGoBack.Batch.Storage;
using DontGoBack.CoreServer.Batch.History;
using DontGoBack.CoreServer.Domain.Assets;
using DontGoBack.CoreServer.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace DontGoBack.CoreServer.Tests.Integration;

/// <summary>
/// History:ArchiveDirectory (issue 27): before a rolled-up month's daily rows go, by deletes or by dropping its partitions, its
/// snapshots and change rows are written there as gzip-compressed CSV with a manifest, and only then let go; a directory that
/// cannot be written fails the run with nothing let go, and the next run finishes the month. Set through configuration and
/// run through the trigger, as an operator would.
/// </summary>
public sealed class HistoryArchiveTests : IDisposable
{
    /// <summary>A change reason CSV must quote: a comma, a quote, a line break, and text beyond ASCII.</summary>
    private const string HostileReason = "bonus, \"double\" pay\nsecond line; 보상";

    private static readonly DateOnly[] LetGo = [new(2025, 3, 1), new(2025, 4, 1), new(2025, 5, 1)];

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("dontgoback-archive-");

    public void Dispose() => _root.Delete(recursive: true);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite, false)]
    [InlineData(DatabaseProvider.Postgres, false)]
    [InlineData(DatabaseProvider.Postgres, true)]
    public async Task A_month_let_go_with_the_archive_set_leaves_its_rows_in_two_compressed_csv_files_and_a_manifest(DatabaseProvider provider, bool partitioned)
    {
        var archive = Path.Combine(_root.FullName, "archive");
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings(archive));
        var client = app.CreateClient();
        var history = await RolledHistory.SeedAsync(app);
        await GiveAMarchChangeAHostileReasonAsync(database);
        var expected = await RolledHistory.ExpectedAsync(app, history);
        if (partitioned)
            await PartitionMarchToMayAsync(client);
        var before = await MonthsAsync(database);

        var run = await RunMaintenanceAsync(client, RolledHistory.Today);

        Assert.Equal(BatchRunStatus.Completed, run.Status);
        Assert.Equal(3, run.Counters.Counts.GetValueOrDefault("monthsArchived"));
        Assert.InRange(run.Counters.Counts.GetValueOrDefault("kilobytesArchived"), 3, 1_000);
        if (partitioned)
            Assert.Equal(3, run.Counters.Counts.GetValueOrDefault("monthsDropped"));
        await RolledHistory.AssertEndStateAsync(app, expected);
        // The three months' two files and manifest, nothing else: no temporary file left behind.
        Assert.Equal(LetGo.SelectMany(FileNames).Order(StringComparer.Ordinal),
            Directory.GetFiles(archive).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var month in LetGo)
            AssertArchiveHolds(archive, month, before[month]);
        Assert.Contains(before[LetGo[0]].Changes, c => c["reason"] == HostileReason);
        // One line per month, naming the directory.
        foreach (var month in LetGo)
            Assert.Single(app.Logs.Entries, e => e.Message.StartsWith($"History {Month(month)}: ", StringComparison.Ordinal) && e.Message.Contains($"archived in {archive}", StringComparison.Ordinal));
        Assert.Contains($"archived 3 months (", HistoryMaintenanceJob.Definition.Describe(run.Counters), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite, false)]
    [InlineData(DatabaseProvider.Postgres, false)]
    [InlineData(DatabaseProvider.Postgres, true)]
    public async Task An_archive_directory_that_cannot_be_made_fails_the_run_naming_it_lets_nothing_go_and_the_next_run_finishes(DatabaseProvider provider, bool partitioned)
    {
        // A regular file where a directory of the path should be: refused even to root, which chmod would not stop.
        var blocker = Path.Combine(_root.FullName, "not-a-directory");
        await File.WriteAllTextAsync(blocker, "a file");
        var archive = Path.Combine(blocker, "archive");
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings(archive));
        var client = app.CreateClient();
        var history = await RolledHistory.SeedAsync(app);
        var expected = await RolledHistory.ExpectedAsync(app, history);
        if (partitioned)
            await PartitionMarchToMayAsync(client);
        var before = await MonthsAsync(database);

        var failed = await RunMaintenanceAsync(client, RolledHistory.Today);

        Assert.Equal(BatchRunStatus.Failed, failed.Status);
        Assert.NotNull(failed.Error);
        Assert.Contains("History:ArchiveDirectory", failed.Error);
        Assert.Contains(archive, failed.Error);
        Assert.Contains($"{blocker} is a file, not a directory", failed.Error);
        Assert.Contains("2025-03", failed.Error);
        // Every row of the months stays; March was rolled up (its roll-up recorded for the next run to finish), nothing dropped.
        Assert.Equal(before, await MonthsAsync(database), MonthRowsComparer.Instance);
        await using (var db = database.CreateContext())
        {
            var march = await db.AssetRolledUpMonths.AsNoTracking().SingleAsync(m => m.Month == LetGo[0]);
            Assert.Equal((DateTimeOffset?)null, march.DailyRowsDeletedAt);
            Assert.Equal(0, await db.AssetRolledUpMonths.CountAsync(m => m.DailyRowsDeletedAt != null));
        }
        Assert.False(Directory.Exists(archive));

        File.Delete(blocker);
        var next = await RunMaintenanceAsync(client, RolledHistory.Today);

        Assert.Equal(BatchRunStatus.Completed, next.Status);
        Assert.Equal(3, next.Counters.Counts.GetValueOrDefault("monthsArchived"));
        await RolledHistory.AssertEndStateAsync(app, expected);
        foreach (var month in LetGo)
            AssertArchiveHolds(archive, month, before[month]);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite, HistoryLifecycleStage.Archived)]
    [InlineData(DatabaseProvider.Sqlite, HistoryLifecycleStage.SnapshotsDeleted)]
    [InlineData(DatabaseProvider.Postgres, HistoryLifecycleStage.Archived)]
    [InlineData(DatabaseProvider.Postgres, HistoryLifecycleStage.SnapshotsDeleted)]
    public async Task A_run_stopped_after_the_archive_is_finished_by_the_next_with_every_row_archived_once(DatabaseProvider provider, HistoryLifecycleStage stopAfter)
    {
        var archive = Path.Combine(_root.FullName, "archive");
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings(archive));
        var history = await RolledHistory.SeedAsync(app);
        var expected = await RolledHistory.ExpectedAsync(app, history);
        var before = await MonthsAsync(database);

        // Cancelled as March's first step of that stage is reported: March archived, then its first delete (or none) done.
        await RolledHistory.RunLifecycleStoppedAtAsync(app, stopAfter);

        AssertArchiveHolds(archive, LetGo[0], before[LetGo[0]]);
        await using (var db = database.CreateContext())
        {
            var left = await db.DailyAssetSnapshots.CountAsync(s => s.SnapshotDay >= LetGo[0] && s.SnapshotDay < LetGo[1]);
            if (stopAfter == HistoryLifecycleStage.SnapshotsDeleted)
                Assert.InRange(left, 1, before[LetGo[0]].Snapshots.Count - 1);
            else
                Assert.Equal(before[LetGo[0]].Snapshots.Count, left);
        }

        var resumed = await RolledHistory.RunLifecycleAsync(app);

        // March's archive is kept, not written again from what is left of it: it still holds every row March had, once.
        Assert.Equal(2, resumed.MonthsArchived);
        Assert.Single(app.Logs.Entries, e => e.Message.Contains("History 2025-03: the archive in", StringComparison.Ordinal)
            && e.Message.Contains("kept as it is", StringComparison.Ordinal));
        await RolledHistory.AssertEndStateAsync(app, expected);
        foreach (var month in LetGo)
            AssertArchiveHolds(archive, month, before[month]);
        Assert.Equal(LetGo.SelectMany(FileNames).Order(StringComparer.Ordinal),
            Directory.GetFiles(archive).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_stopped_runs_archive_whose_file_was_damaged_is_written_again_before_the_month_goes(DatabaseProvider provider)
    {
        var archive = Path.Combine(_root.FullName, "archive");
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = new CoreServerApp(database, Settings(archive));
        var history = await RolledHistory.SeedAsync(app);
        var expected = await RolledHistory.ExpectedAsync(app, history);
        var before = await MonthsAsync(database);
        await RolledHistory.RunLifecycleStoppedAtAsync(app, HistoryLifecycleStage.Archived);
        // March's snapshot file cut short after the run stopped (a copy gone wrong, a disk fault): same name, wrong bytes.
        var march = Path.Combine(archive, $"daily_asset_snapshots_{Month(LetGo[0])}.csv.gz");
        var bytes = await File.ReadAllBytesAsync(march);
        await File.WriteAllBytesAsync(march, bytes[..^8]);

        var resumed = await RolledHistory.RunLifecycleAsync(app);

        Assert.Equal(3, resumed.MonthsArchived);
        // Every row of March was still in the database: rewritten whole, nothing to warn of.
        Assert.DoesNotContain(app.Logs.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.Contains("no longer matches its manifest", StringComparison.Ordinal));
        await RolledHistory.AssertEndStateAsync(app, expected);
        foreach (var month in LetGo)
            AssertArchiveHolds(archive, month, before[month]);
    }

    [Fact]
    public async Task An_archive_directory_that_is_a_file_stops_the_server_at_start_with_one_line_naming_it()
    {
        var file = Path.Combine(_root.FullName, "archive.txt");
        await File.WriteAllTextAsync(file, "not a directory");
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);

        var server = await CoreServerProcess.RunAsync(new Dictionary<string, string?>
        {
            ["ConnectionStrings:DontGoBack"] = database.ConnectionString,
            ["History:ArchiveDirectory"] = file,
        }, [], timeout: TimeSpan.FromSeconds(30));

        Assert.True(server.ExitCode == 2, $"exit code {server.ExitCode}; output:\n{server.Output}");
        Assert.Equal([$"Configuration error: History:ArchiveDirectory {file} is a file: name a directory (it is created when missing) for the archive of the months let go, or leave it unset to keep no archive."],
            server.StandardError);
    }

    [Fact]
    public async Task A_relative_archive_directory_is_taken_from_the_content_root_and_a_blank_one_is_no_archive()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        await using var relative = new CoreServerApp(database, new Dictionary<string, string?> { ["History:ArchiveDirectory"] = "history-archive" });
        await using var blank = new CoreServerApp(database, new Dictionary<string, string?> { ["History:ArchiveDirectory"] = "  " });

        var contentRoot = relative.Services.GetRequiredService<IHostEnvironment>().ContentRootPath;
        Assert.Equal(Path.Combine(contentRoot, "history-archive"), relative.Services.GetRequiredService<IOptions<HistoryOptions>>().Value.ArchiveDirectory);
        Assert.True(Path.IsPathFullyQualified(contentRoot));
        Assert.Null(blank.Services.GetRequiredService<IOptions<HistoryOptions>>().Value.ArchiveDirectory);
        await using var scope = blank.Services.CreateAsyncScope();
        Assert.False(scope.ServiceProvider.GetRequiredService<HistoryArchive>().Enabled);
    }

    private static Dictionary<string, string?> Settings(string archive) => new(RolledHistory.Settings)
    {
        ["History:ArchiveDirectory"] = archive,
        // The line per month archived is at Information.
        ["Logging:LogLevel:DontGoBack.CoreServer.Domain.Assets.HistoryArchive"] = "Information",
    };

    private static IEnumerable<string> FileNames(DateOnly month)
    {
        var name = Month(month);
        return [$"daily_asset_snapshots_{name}.csv.gz", $"asset_changes_{name}.csv.gz", $"history_{name}.manifest.json"];
    }

    /// <summary>The month's files hold exactly <paramref name="rows"/>, and its manifest says so, with the files' true lengths and hashes.</summary>
    private static void AssertArchiveHolds(string archive, DateOnly month, MonthRows rows)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(archive, $"history_{Month(month)}.manifest.json")));
        var root = manifest.RootElement;
        Assert.Equal(Month(month), root.GetProperty("month").GetString());
        Assert.True(root.TryGetProperty("writtenAt", out _));
        Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("keptInDatabase").GetString()));
        var files = root.GetProperty("files").EnumerateArray().ToDictionary(f => f.GetProperty("table").GetString()!);
        Assert.Equal(["asset_changes", "daily_asset_snapshots"], files.Keys.Order(StringComparer.Ordinal));
        foreach (var (table, expected) in new[] { ("daily_asset_snapshots", rows.Snapshots), ("asset_changes", rows.Changes) })
        {
            var file = files[table];
            var path = Path.Combine(archive, file.GetProperty("file").GetString()!);
            Assert.Equal($"{table}_{Month(month)}.csv.gz", Path.GetFileName(path));
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(bytes.LongLength, file.GetProperty("bytes").GetInt64());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), file.GetProperty("sha256").GetString());
            Assert.Equal(expected.Count, file.GetProperty("rows").GetInt64());
            var (header, records) = ReadCsv(bytes);
            Assert.Equal(header, file.GetProperty("columns").EnumerateArray().Select(c => c.GetString()!).ToList());
            Assert.Equal(expected.Count, records.Count);
            var archived = records.Select(r => header.Zip(r).ToDictionary(p => p.First, p => p.Second)).ToList();
            Assert.Equal(expected.Select(Comparable), archived.Select(Comparable).OrderBy(r => r[0], StringComparer.Ordinal));
        }
    }

    /// <summary>What the archive must carry of a row, comparable across providers (a number as a number, a day as a day, null as null).</summary>
    private static List<string?> Comparable(Dictionary<string, string?> row) =>
    [
        long.Parse(row["id"]!, CultureInfo.InvariantCulture).ToString("D12", CultureInfo.InvariantCulture),
        row["user_id"],
        DateOnly.Parse(row["snapshot_day"]!, CultureInfo.InvariantCulture).ToString("O", CultureInfo.InvariantCulture),
        .. row.ContainsKey("closing_amount")
            ? new[] { row["opening_amount"], row["closing_amount"], row["market_delta"], row["net_flow"],
                row["market_multiplier"] is { } multiplier ? double.Parse(multiplier, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture) : null }
            : [row["kind"], row["amount_before"], row["amount_after"], row["delta"], row["reason"], row["idempotency_key"], row["snapshot_id"]],
    ];

    private static async Task GiveAMarchChangeAHostileReasonAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        Assert.Equal(1, await db.AssetChanges.Where(c => c.IdempotencyKey == "march-reward")
            .ExecuteUpdateAsync(c => c.SetProperty(x => x.Reason, HostileReason)));
    }

    /// <summary>Maintenance on a day of March makes March to May partitions of their own, as <see cref="MonthlyPartitionTests"/> does.</summary>
    private static async Task PartitionMarchToMayAsync(HttpClient client)
    {
        var partitioning = await RunMaintenanceAsync(client, new DateOnly(2025, 3, 3));
        Assert.Equal((BatchRunStatus.Completed, 6), (partitioning.Status, partitioning.Counters.Counts.GetValueOrDefault("partitionsCreated")));
    }

    private static async Task<BatchResult> RunMaintenanceAsync(HttpClient client, DateOnly day) =>
        await RefreshRuns.ResultOfAsync(await client.PostAsync($"/internal/batch/history-maintenance/runs?day={day:yyyy-MM-dd}", null));

    private static string Month(DateOnly month) => month.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    public sealed record MonthRows(List<Dictionary<string, string?>> Snapshots, List<Dictionary<string, string?>> Changes);

    /// <summary>The let-go months' rows as the database holds them, each a column → text map in the CSV's words, by id.</summary>
    private static async Task<Dictionary<DateOnly, MonthRows>> MonthsAsync(TestDatabase database)
    {
        await using var db = database.CreateContext();
        var snapshots = await db.DailyAssetSnapshots.AsNoTracking().Where(s => s.SnapshotDay < RolledHistory.KeepFrom).OrderBy(s => s.Id).ToListAsync();
        var changes = await db.AssetChanges.AsNoTracking().Where(c => c.SnapshotDay < RolledHistory.KeepFrom).OrderBy(c => c.Id).ToListAsync();
        return LetGo.ToDictionary(month => month, month => new MonthRows(
            snapshots.Where(s => In(s.SnapshotDay, month)).Select(s => new Dictionary<string, string?>
            {
                ["id"] = Text(s.Id), ["user_id"] = Text(s.UserId), ["snapshot_day"] = s.SnapshotDay.ToString("O", CultureInfo.InvariantCulture),
                ["opening_amount"] = Text(s.OpeningAmount), ["closing_amount"] = Text(s.ClosingAmount), ["market_delta"] = Text(s.MarketDelta),
                ["net_flow"] = Text(s.NetFlow), ["market_multiplier"] = s.MarketMultiplier?.ToString("R", CultureInfo.InvariantCulture),
            }).ToList(),
            changes.Where(c => In(c.SnapshotDay, month)).Select(c => new Dictionary<string, string?>
            {
                ["id"] = Text(c.Id), ["user_id"] = Text(c.UserId), ["snapshot_day"] = c.SnapshotDay.ToString("O", CultureInfo.InvariantCulture),
                ["kind"] = c.Kind.ToString(), ["amount_before"] = Text(c.AmountBefore), ["amount_after"] = Text(c.AmountAfter), ["delta"] = Text(c.Delta),
                ["reason"] = c.Reason, ["idempotency_key"] = c.IdempotencyKey, ["snapshot_id"] = Text(c.SnapshotId),
            }).ToList()));

        static bool In(DateOnly day, DateOnly month) => day >= month && day < month.AddMonths(1);
        static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
    }

    private sealed class MonthRowsComparer : IEqualityComparer<Dictionary<DateOnly, MonthRows>>
    {
        public static readonly MonthRowsComparer Instance = new();

        public bool Equals(Dictionary<DateOnly, MonthRows>? x, Dictionary<DateOnly, MonthRows>? y) =>
            x is not null && y is not null && x.Count == y.Count && x.All(m => y.TryGetValue(m.Key, out var other)
                && Same(m.Value.Snapshots, other.Snapshots) && Same(m.Value.Changes, other.Changes));

        public int GetHashCode(Dictionary<DateOnly, MonthRows> obj) => obj.Count;

        private static bool Same(List<Dictionary<string, string?>> x, List<Dictionary<string, string?>> y) =>
            x.Count == y.Count && x.Zip(y).All(p => p.First.Count == p.Second.Count && p.First.All(c => p.Second.GetValueOrDefault(c.Key) == c.Value));
    }

    /// <summary>
    /// Decompresses and parses RFC 4180 CSV: a header row, then records; a quoted field may hold commas, doubled quotes and
    /// line breaks. An empty unquoted field is null (PostgreSQL's NULL in CSV), an empty quoted one the empty string.
    /// </summary>
    private static (List<string> Header, List<List<string?>> Records) ReadCsv(byte[] compressed)
    {
        using var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, new UTF8Encoding(false, throwOnInvalidBytes: true));
        var text = reader.ReadToEnd();
        var records = new List<List<string?>>();
        var (record, field, quoted, inQuotes) = (new List<string?>(), new StringBuilder(), false, false);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (inQuotes)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                    (field, i) = (field.Append('"'), i + 1);
                else if (c == '"')
                    inQuotes = false;
                else
                    field.Append(c);
            }
            else if (c == '"')
            {
                (inQuotes, quoted) = (true, true);
            }
            else if (c is ',' or '\n')
            {
                record.Add(field.Length == 0 && !quoted ? null : field.ToString());
                (field, quoted) = (new StringBuilder(), false);
                if (c == '\n')
                    (records, record) = (Add(records, record), new List<string?>());
            }
            else if (c != '\r' || i + 1 >= text.Length || text[i + 1] != '\n')
            {
                field.Append(c);
            }
        }
        Assert.False(inQuotes, "the file ends inside a quoted field");
        Assert.True(record.Count == 0 && field.Length == 0, "the last record ends with a line break");
        Assert.NotEmpty(records);
        Assert.All(records, r => Assert.Equal(records[0].Count, r.Count));
        return (records[0].Select(h => h!).ToList(), records.Skip(1).ToList());

        static List<List<string?>> Add(List<List<string?>> all, List<string?> one)
        {
            all.Add(one);
            return all;
        }
    }
}
