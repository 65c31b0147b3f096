namespace DontGoBack.Batch.Storage;

/// <summary>
/// Room kept on an embedded database's disk for the run history's own records: a file of zeros beside the
/// database, given up when a run's outcome does not fit on a full disk, and made again at the next claim.
/// </summary>
/// <remarks>
/// An SQLite database in write-ahead-log mode appends every commit to its log, so a run whose work filled the
/// disk leaves no room for the few pages that record its outcome: the work's failed commit took the last bytes,
/// and what earlier commits wrote stays until a checkpoint, which itself needs room to grow the database file.
/// Without the reserve the run would stay "running" until its lease went stale. PostgreSQL needs none: its
/// write-ahead log lives in preallocated segments, and the database is another machine's disk.
/// </remarks>
public sealed partial class StorageReserve(string path, long bytes, ILogger<StorageReserve> logger)
{
    /// <summary>Where the reserve lies: beside the database file, named after it.</summary>
    public static string PathBeside(string databaseFile) => databaseFile + "-reserve";

    // Two jobs may claim at once in one process: one of them makes or gives up the file at a time.
    private readonly Lock _gate = new();

    public string Path { get; } = path;

    /// <summary>Makes the reserve when it is missing or short (a first start, or given up for an outcome since).</summary>
    /// <returns>False when the disk has no room for it now; it is tried again at the next claim.</returns>
    public bool Replenish()
    {
        lock (_gate)
            return ReplenishUnderGate();
    }

    private bool ReplenishUnderGate()
    {
        var file = new FileInfo(Path);
        if (bytes == 0 || file.Exists && file.Length >= bytes)
            return true;
        try
        {
            using (var stream = new FileStream(Path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None, 0, FileOptions.WriteThrough))
            {
                // Written, not just sized: a sparse file would hold no room on most file systems.
                var zeros = new byte[64 * 1024];
                stream.Seek(stream.Length, SeekOrigin.Begin);
                for (var left = bytes - stream.Length; left > 0; left -= zeros.Length)
                    stream.Write(zeros, 0, (int)Math.Min(zeros.Length, left));
            }
            LogReplenished(bytes, Path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A short reserve holds no room worth keeping, and its bytes are better left to the database. (Something
            // else at the path, such as a folder, is not ours to delete.)
            if (File.Exists(Path))
                TryDelete();
            LogNotReplenished(bytes, Path, e.Message);
            return false;
        }
    }

    /// <summary>Gives the reserve's room back to the disk, so a record that did not fit can be written.</summary>
    /// <returns>True when there was a reserve to give up.</returns>
    public bool Release()
    {
        lock (_gate)
        {
            if (!File.Exists(Path) || !TryDelete())
                return false;
            LogReleased(Path);
            return true;
        }
    }

    private bool TryDelete()
    {
        try
        {
            File.Delete(Path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogNotDeleted(Path, e.Message);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Storage reserve of {Bytes} bytes kept at {Path} for the run history's records on a full disk")]
    private partial void LogReplenished(long bytes, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The storage reserve of {Bytes} bytes at {Path} could not be made ({Reason}); tried again at the next run's claim")]
    private partial void LogNotReplenished(long bytes, string path, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The disk is full: the storage reserve at {Path} is given up to record a run's outcome; it is made again at the next run's claim once there is room")]
    private partial void LogReleased(string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "The storage reserve at {Path} could not be deleted: {Reason}")]
    private partial void LogNotDeleted(string path, string reason);
}
