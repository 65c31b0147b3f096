using System.Data.Common;
using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using DontGoBack.Batch.Schedule;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DontGoBack.CoreServer.Domain.Assets;

/// <summary>A month's archive in place before its rows go.</summary>
/// <param name="Snapshots">Daily snapshot rows in its file.</param>
/// <param name="Changes">Change rows in its file.</param>
/// <param name="BytesWritten">The compressed files' bytes written by this run; 0 when an earlier run's archive was kept.</param>
/// <param name="Reused">An interrupted run had written it already and it still holds every row the database has of the month.</param>
public sealed record MonthArchive(DateOnly Month, long Snapshots, long Changes, long BytesWritten, bool Reused);

/// <summary>A month's archive could not be written or does not match the database: the month's rows stay, the run fails with this reason.</summary>
public sealed class HistoryArchiveException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// <see cref="HistoryOptions.ArchiveDirectory"/>: before a sealed month's daily rows go (<see cref="AssetHistoryLifecycle"/>), by
/// deletes or by dropping its partitions, its snapshots and its change rows are written there, each table one gzip-compressed
/// CSV file (RFC 4180, UTF-8, a header row of the column names, every row of the month: the users' current snapshots too),
/// then one manifest for the month, last. Each file is written under a temporary name in the same directory, flushed to disk
/// and renamed into place, so a name in the directory is always a whole file; the manifest's row counts are checked against
/// what the database holds of the month, which no longer changes (a sealed month refuses writes, <see cref="RolledUpMonths"/>).
/// </summary>
/// <remarks>
/// PostgreSQL streams each table out with COPY … TO STDOUT (CSV), SQLite through a data reader: a month of millions of rows
/// passes through a buffer, never into memory. A run stopped after the archive and before the rows went finds the month's
/// manifest next time: kept when its files are whole (length and SHA-256) and hold at least the rows the database still has
/// (a stopped batched delete leaves fewer, all of them in the files), rewritten otherwise. One directory per database: a
/// manifest is matched by month and counts, not by row.
/// </remarks>
public sealed partial class HistoryArchive(
    DontGoBackDbContext db, IOptions<HistoryOptions> options, IOptions<BatchOptions> batch, TimeProvider time, ILogger<HistoryArchive> logger)
{
    private static readonly string[] Tables = [HistoryPartitions.SnapshotTable, HistoryPartitions.ChangeTable];

    // Read by people and tools, never put into HTML: apostrophes and Hangul stay as they are.
    private static readonly JsonSerializerOptions ManifestJson = new(JsonSerializerDefaults.Web) { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    public static string FileName(string table, DateOnly month) => $"{table}_{Month(month)}.csv.gz";

    public static string ManifestName(DateOnly month) => $"history_{Month(month)}.manifest.json";

    /// <summary>Whether months are archived before they go: <see cref="HistoryOptions.ArchiveDirectory"/> is set.</summary>
    public bool Enabled => options.Value.ArchiveDirectory is not null;

    /// <summary>
    /// Writes <paramref name="month"/>'s archive (or keeps the one an interrupted run wrote) and checks it against the database.
    /// Throws <see cref="HistoryArchiveException"/>, naming the directory and the system's error, when it cannot: then nothing
    /// of the month may go.
    /// </summary>
    public async Task<MonthArchive> WriteAsync(DateOnly month, CancellationToken cancellationToken)
    {
        var directory = options.Value.ArchiveDirectory ?? throw new InvalidOperationException($"{HistoryOptions.SectionName}:{nameof(HistoryOptions.ArchiveDirectory)} is not set.");
        var held = await CountAsync(month, cancellationToken);
        try
        {
            Directory.CreateDirectory(directory);
            var manifestPath = Path.Combine(directory, ManifestName(month));
            if (await ReadManifestAsync(manifestPath, cancellationToken) is { } earlier && earlier.Month == Month(month))
            {
                if (await HoldsAsync(directory, earlier, held, cancellationToken))
                {
                    LogArchiveKept(Month(month), directory, held.Snapshots, held.Changes);
                    return new MonthArchive(month, Rows(earlier, HistoryPartitions.SnapshotTable), Rows(earlier, HistoryPartitions.ChangeTable), 0, Reused: true);
                }
                // Its files changed since, and rows it held are gone from the database: what is rewritten now cannot hold them.
                if (earlier.Files?.Sum(f => f.Rows) > held.Snapshots + held.Changes)
                    LogDamagedArchiveOfRowsGone(Month(month), directory, earlier.Files.Sum(f => f.Rows), held.Snapshots + held.Changes);
            }

            var files = new List<ArchivedFile>();
            foreach (var table in Tables)
                files.Add(await WriteTableAsync(directory, table, month, cancellationToken));
            // The month is sealed, so nothing writes into it any more: a count that differs now is a fault to stop on.
            var now = await CountAsync(month, cancellationToken);
            if ((files[0].Rows, files[1].Rows) != (now.Snapshots, now.Changes))
            {
                throw new HistoryArchiveException(string.Create(CultureInfo.InvariantCulture,
                    $"{Setting} {directory}: the archive of {Month(month)} holds {files[0].Rows} snapshot(s) and {files[1].Rows} change row(s) but the database now holds {now.Snapshots} and {now.Changes}; nothing of the month was let go, the next run writes it again."));
            }
            var manifest = new Manifest(Month(month), time.GetUtcNow(), batch.Value.ResolveNodeName(),
                "CSV (RFC 4180, UTF-8, header row of the column names, NULL as an empty unquoted field), gzip-compressed; one file per table",
                "Every row of the month is in the files. The users' current snapshots of the month and their change rows stay in the database "
                + "too (each is a user's present balance and the base of the next refresh); every other row of the month is let go once this manifest is written.",
                new Dictionary<string, long> { [HistoryPartitions.SnapshotTable] = await KeptSnapshotsAsync(month, cancellationToken), [HistoryPartitions.ChangeTable] = await KeptChangesAsync(month, cancellationToken) },
                files);
            await WriteDurablyAsync(manifestPath, stream => JsonSerializer.SerializeAsync(stream, manifest, ManifestJson, cancellationToken), cancellationToken);
            var bytes = files.Sum(f => f.Bytes);
            LogArchived(Month(month), files[0].Rows, files[1].Rows, bytes, directory);
            return new MonthArchive(month, files[0].Rows, files[1].Rows, bytes, Reused: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not HistoryArchiveException)
        {
            throw new HistoryArchiveException(string.Create(CultureInfo.InvariantCulture,
                $"{Setting} {directory}: the archive of {Month(month)} could not be written: {Why(e, directory)}; nothing of the month was let go, the next run tries again."), e);
        }
    }

    /// <summary>The system's error in words an operator can act on.</summary>
    private static string Why(Exception e, string directory)
    {
        // .NET words ENOTDIR as a part of the path not found: name the file standing where a directory should be.
        if (e is DirectoryNotFoundException)
        {
            for (var part = directory; !string.IsNullOrEmpty(part); part = Path.GetDirectoryName(part))
            {
                if (File.Exists(part))
                    return $"{part} is a file, not a directory ({e.Message})";
            }
        }
        return e.InnerException is { Message: var inner } && inner != e.Message ? $"{e.Message} ({inner})" : e.Message;
    }

    private static string Setting => $"{HistoryOptions.SectionName}:{nameof(HistoryOptions.ArchiveDirectory)}";

    private static long Rows(Manifest manifest, string table) => manifest.Files.Single(f => f.Table == table).Rows;

    /// <summary>An earlier manifest still serves when its files are whole and hold at least what the database has of the month now.</summary>
    private static async Task<bool> HoldsAsync(string directory, Manifest manifest, (long Snapshots, long Changes) held, CancellationToken cancellationToken)
    {
        if (manifest.Files is not { Count: 2 } || Tables.Any(t => manifest.Files.Count(f => f.Table == t) != 1)
            || Rows(manifest, HistoryPartitions.SnapshotTable) < held.Snapshots || Rows(manifest, HistoryPartitions.ChangeTable) < held.Changes)
        {
            return false;
        }
        foreach (var file in manifest.Files)
        {
            var path = Path.Combine(directory, Path.GetFileName(file.File));
            if (!File.Exists(path) || new FileInfo(path).Length != file.Bytes)
                return false;
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
            if (!string.Equals(Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken)), file.Sha256, StringComparison.Ordinal))
                return false;
        }
        return true;
    }

    private static async Task<Manifest?> ReadManifestAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
            return null;
        await using var stream = File.OpenRead(path);
        try
        {
            return await JsonSerializer.DeserializeAsync<Manifest>(stream, ManifestJson, cancellationToken);
        }
        catch (JsonException)
        {
            return null; // not ours, or cut short: written again
        }
    }

    /// <summary>One table's rows of the month into its file, through a temporary name; its rows, bytes, hash and columns.</summary>
    private async Task<ArchivedFile> WriteTableAsync(string directory, string table, DateOnly month, CancellationToken cancellationToken)
    {
        var name = FileName(table, month);
        (long Rows, IReadOnlyList<string> Columns) written = (0, []);
        var (bytes, sha256) = await WriteDurablyAsync(Path.Combine(directory, name), async stream =>
        {
            await using var gzip = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true);
            await using var csv = new StreamWriter(gzip, Utf8, 1 << 16, leaveOpen: true) { NewLine = "\n" };
            written = db.Database.IsNpgsql()
                ? await CopyOutAsync(csv, table, month, cancellationToken)
                : await ReadOutAsync(csv, table, month, cancellationToken);
        }, cancellationToken);
        return new ArchivedFile(table, name, written.Rows, bytes, sha256, written.Columns);
    }

    /// <summary>
    /// Writes <paramref name="path"/> under a temporary name beside it, flushes it to disk, renames it into place and flushes the
    /// directory, so the name holds either the whole new file or what it held before. Returns its length and SHA-256.
    /// </summary>
    private static async Task<(long Bytes, string Sha256)> WriteDurablyAsync(string path, Func<Stream, Task> write, CancellationToken cancellationToken)
    {
        var temporary = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long bytes;
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await using (var hashing = new HashingStream(file, hash))
                    await write(hashing);
                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
                bytes = file.Length;
            }
            File.Move(temporary, path, overwrite: true);
            Directories.Sync(Path.GetDirectoryName(path)!);
            return (bytes, Convert.ToHexStringLower(hash.GetHashAndReset()));
        }
        catch
        {
            try
            {
                File.Delete(temporary);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The directory refuses even this: the reason the caller reports is the first failure's.
            }
            throw;
        }
    }

    /// <summary>PostgreSQL: COPY's own CSV, streamed; dates in ISO and timestamps in UTC whatever the session's settings.</summary>
    private async Task<(long Rows, IReadOnlyList<string> Columns)> CopyOutAsync(TextWriter csv, string table, DateOnly month, CancellationToken cancellationToken)
    {
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            await db.Database.ExecuteSqlRawAsync("SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL extra_float_digits = 1;", cancellationToken);
            // COPY takes no parameters: the table is one of two constants, the bounds are made from DateOnly here.
            var records = new CsvRecords();
            using (var reader = await connection.BeginTextExportAsync(string.Create(CultureInfo.InvariantCulture, $"""
                COPY (SELECT * FROM {table} WHERE snapshot_day >= DATE '{month:yyyy-MM-dd}' AND snapshot_day < DATE '{month.AddMonths(1):yyyy-MM-dd}' ORDER BY id)
                  TO STDOUT WITH (FORMAT csv, HEADER)
                """), cancellationToken))
            {
                var buffer = new char[1 << 15];
                int read;
                while ((read = await reader.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    records.Feed(buffer.AsSpan(0, read));
                    await csv.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
            }
            await transaction.CommitAsync(cancellationToken);
            return (Math.Max(records.Count - 1, 0), records.Header);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>SQLite: a data reader, each value written as PostgreSQL's COPY would write it.</summary>
    private async Task<(long Rows, IReadOnlyList<string> Columns)> ReadOutAsync(TextWriter csv, string table, DateOnly month, CancellationToken cancellationToken)
    {
        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT * FROM {table} WHERE snapshot_day >= $from AND snapshot_day < $to ORDER BY id";
            Parameter(command, "$from", month);
            Parameter(command, "$to", month.AddMonths(1));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var columns = Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToList();
            await csv.WriteLineAsync(string.Join(',', columns.Select(Field)));
            long rows = 0;
            while (await reader.ReadAsync(cancellationToken))
            {
                // The writer buffers: a row is a few dozen bytes, so these writes stay in memory until a buffer is full.
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    if (i > 0)
                        csv.Write(',');
                    csv.Write(reader.IsDBNull(i) ? "" : Field(reader.GetValue(i)));
                }
                csv.Write('\n');
                rows++;
            }
            return (rows, columns);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }

        static void Parameter(DbCommand command, string name, DateOnly day)
        {
            var parameter = command.CreateParameter();
            (parameter.ParameterName, parameter.Value) = (name, day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
            command.Parameters.Add(parameter);
        }
    }

    /// <summary>A value as CSV: invariant numbers (doubles round-trip), text quoted when it must be, the empty string quoted (NULL is the empty field).</summary>
    private static string Field(object value) => value switch
    {
        string text => text.Length == 0 || text.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? $"\"{text.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : text,
        double number => number.ToString("R", CultureInfo.InvariantCulture),
        float number => number.ToString("R", CultureInfo.InvariantCulture),
        byte[] blob => @"\x" + Convert.ToHexStringLower(blob),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => Field(value.ToString() ?? ""),
    };

    private Task<long> KeptSnapshotsAsync(DateOnly month, CancellationToken cancellationToken)
    {
        var next = month.AddMonths(1);
        return db.DailyAssetSnapshots.AsNoTracking()
            .LongCountAsync(s => s.SnapshotDay >= month && s.SnapshotDay < next && db.Users.Any(u => u.CurrentSnapshotId == s.Id), cancellationToken);
    }

    private Task<long> KeptChangesAsync(DateOnly month, CancellationToken cancellationToken)
    {
        var next = month.AddMonths(1);
        return db.AssetChanges.AsNoTracking()
            .LongCountAsync(c => c.SnapshotDay >= month && c.SnapshotDay < next && db.Users.Any(u => u.CurrentSnapshotId == c.SnapshotId), cancellationToken);
    }

    private async Task<(long Snapshots, long Changes)> CountAsync(DateOnly month, CancellationToken cancellationToken)
    {
        var next = month.AddMonths(1);
        return (await db.DailyAssetSnapshots.AsNoTracking().LongCountAsync(s => s.SnapshotDay >= month && s.SnapshotDay < next, cancellationToken),
            await db.AssetChanges.AsNoTracking().LongCountAsync(c => c.SnapshotDay >= month && c.SnapshotDay < next, cancellationToken));
    }

    private static string Month(DateOnly month) => month.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Information, Message = "History {Month}: {Snapshots} daily snapshot(s) and {Changes} change row(s) archived in {Directory} ({Bytes} bytes compressed)")]
    private partial void LogArchived(string month, long snapshots, long changes, long bytes, string directory);

    [LoggerMessage(Level = LogLevel.Information, Message = "History {Month}: the archive in {Directory} an earlier run wrote is whole and holds the {Snapshots} snapshot(s) and {Changes} change row(s) left; kept as it is")]
    private partial void LogArchiveKept(string month, string directory, long snapshots, long changes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "History {Month}: the archive in {Directory} an earlier run wrote no longer matches its manifest, and of its {Archived} row(s) the database holds {Held}: it is written again with the rows left")]
    private partial void LogDamagedArchiveOfRowsGone(string month, string directory, long archived, long held);

    private sealed record Manifest(
        string Month, DateTimeOffset WrittenAt, string? Node, string Format, string KeptInDatabase,
        IReadOnlyDictionary<string, long> RowsKeptInDatabase, IReadOnlyList<ArchivedFile> Files);

    private sealed record ArchivedFile(string Table, string File, long Rows, long Bytes, string Sha256, IReadOnlyList<string> Columns);

    /// <summary>Counts CSV records as text streams by (a line break inside quotes is data) and keeps the header's names.</summary>
    private sealed class CsvRecords
    {
        private readonly StringBuilder _header = new();
        private bool _inQuotes;

        public long Count { get; private set; }

        public IReadOnlyList<string> Header => _header.ToString().TrimEnd('\r').Split(',').Select(name => name.Trim('"')).ToList();

        public void Feed(ReadOnlySpan<char> text)
        {
            foreach (var c in text)
            {
                if (c == '"')
                    _inQuotes = !_inQuotes;
                else if (c == '\n' && !_inQuotes)
                    Count++;
                if (Count == 0)
                    _header.Append(c);
            }
        }
    }

    /// <summary>Passes writes on to a file and into a hash: the SHA-256 of the bytes as written, without reading them back.</summary>
    private sealed class HashingStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            hash.AppendData(buffer.Span);
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>
    /// fsync of a directory, so a rename into it outlives a power cut (.NET opens no directory as a file). Where the call is
    /// not there (Windows) the rename is as durable as the file system makes it.
    /// </summary>
    private static class Directories
    {
        public static void Sync(string directory)
        {
            if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
                return;
            int descriptor;
            try
            {
                descriptor = Open(directory, 0);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return; // a C library under another name: the rename stands as the file system keeps it
            }
            if (descriptor < 0)
                throw new IOException($"cannot open the directory to flush it: {Marshal.GetLastPInvokeErrorMessage()}");
            try
            {
                if (Fsync(descriptor) != 0)
                    throw new IOException($"cannot flush the directory: {Marshal.GetLastPInvokeErrorMessage()}");
            }
            finally
            {
                _ = Close(descriptor);
            }
        }

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
        private static extern int Fsync(int descriptor);

        [DllImport("libc", EntryPoint = "close")]
        private static extern int Close(int descriptor);
    }
}
