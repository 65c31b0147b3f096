using System.Text.RegularExpressions;
using Quartz;

namespace DontGoBack.CoreServer.Persistence;

/// <summary>
/// The PostgreSQL schema of Quartz's ADO job store, as the Quartz version we run ships it
/// (an embedded script of create-if-missing statements), for our migrations to install.
/// </summary>
public static class QuartzJobStoreSchema
{
    public const string TablePrefix = "qrtz_";
    private const string ScriptResource = "Quartz.Impl.AdoJobStore.Schema.create_postgres.sql";
    private const string StatementSeparator = "--;;";

    public static IReadOnlyList<string> PostgresStatements()
    {
        using var stream = typeof(IScheduler).Assembly.GetManifestResourceStream(ScriptResource)
            ?? throw new InvalidOperationException($"Quartz no longer ships {ScriptResource}; install its job-store schema another way.");
        using var reader = new StreamReader(stream);
        // {0} is the table prefix, {1} the same without a schema qualifier (for index names).
        var script = reader.ReadToEnd().Replace("{0}", TablePrefix).Replace("{1}", TablePrefix);
        // The separator is a line of its own; the script's header mentions it in prose too.
        return Regex.Split(script, $@"^{Regex.Escape(StatementSeparator)}\s*$", RegexOptions.Multiline)
            .Select(statement => statement.Trim())
            .Where(statement => statement.Split('\n').Any(line => line.Trim().Length > 0 && !line.TrimStart().StartsWith("--", StringComparison.Ordinal)))
            .ToList();
    }
}
