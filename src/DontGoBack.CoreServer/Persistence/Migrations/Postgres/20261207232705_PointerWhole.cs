using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Postgres
{
    /// <summary>
    /// The users' pointer is whole or empty: current_snapshot_id and current_snapshot_day are null together (a CHECK). The
    /// writers always set both; a row left half set (by hand) is mended first from the snapshot its id names, and a pointer
    /// whose snapshot cannot be found is cleared.
    /// </summary>
    public partial class PointerWhole : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                UPDATE users u SET current_snapshot_day = s.snapshot_day
                  FROM daily_asset_snapshots s
                 WHERE u.current_snapshot_id IS NOT NULL AND u.current_snapshot_day IS NULL AND s.id = u.current_snapshot_id;
                UPDATE users SET current_snapshot_id = NULL, current_snapshot_day = NULL
                 WHERE (current_snapshot_id IS NULL) <> (current_snapshot_day IS NULL);
                """);
            // Added valid at once: the check scans users under the migration's lock (seconds at ten million users).
            migrationBuilder.AddCheckConstraint(
                name: "ck_users_current_snapshot_whole",
                table: "users",
                sql: "(current_snapshot_id IS NULL) = (current_snapshot_day IS NULL)");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropCheckConstraint(
                name: "ck_users_current_snapshot_whole",
                table: "users");
        }
    }
}
