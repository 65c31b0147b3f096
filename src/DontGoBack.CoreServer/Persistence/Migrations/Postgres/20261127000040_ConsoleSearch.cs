using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class ConsoleSearch : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "node",
                table: "batch_run_attempts",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_batch_runs_snapshot_day",
                table: "batch_runs",
                column: "snapshot_day");

            migrationBuilder.CreateIndex(
                name: "ix_asset_refresh_failures_snapshot_day_failure_class_user_id",
                table: "asset_refresh_failures",
                columns: new[] { "snapshot_day", "failure_class", "user_id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_batch_runs_snapshot_day",
                table: "batch_runs");

            migrationBuilder.DropIndex(
                name: "ix_asset_refresh_failures_snapshot_day_failure_class_user_id",
                table: "asset_refresh_failures");

            migrationBuilder.DropColumn(
                name: "node",
                table: "batch_run_attempts");
        }
    }
}
