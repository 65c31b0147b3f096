using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Sqlite
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
                UPDATE users SET current_snapshot_day =
                       (SELECT s.snapshot_day FROM daily_asset_snapshots s WHERE s.id = users.current_snapshot_id)
                 WHERE current_snapshot_id IS NOT NULL AND current_snapshot_day IS NULL;
                UPDATE users SET current_snapshot_id = NULL, current_snapshot_day = NULL
                 WHERE (current_snapshot_id IS NULL) <> (current_snapshot_day IS NULL);
                """);
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
