using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class OperatorActions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "cancel_reason",
                table: "batch_runs",
                type: "TEXT",
                maxLength: 500,
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "cancel_requested_at",
                table: "batch_runs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "batch_schedule_pauses",
                columns: table => new
                {
                    job_name = table.Column<string>(type: "TEXT", maxLength: 50, nullable: false),
                    paused_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    reason = table.Column<string>(type: "TEXT", maxLength: 500, nullable: false),
                    address = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    token_name = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_batch_schedule_pauses", x => x.job_name);
                });

            migrationBuilder.CreateTable(
                name: "operator_actions",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    action = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    job_name = table.Column<string>(type: "TEXT", maxLength: 50, nullable: true),
                    run_id = table.Column<long>(type: "INTEGER", nullable: true),
                    snapshot_day = table.Column<DateOnly>(type: "TEXT", nullable: true),
                    address = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    token_name = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    reason = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true),
                    outcome = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    detail = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_operator_actions", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_operator_actions_job_name_id",
                table: "operator_actions",
                columns: new[] { "job_name", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "batch_schedule_pauses");

            migrationBuilder.DropTable(
                name: "operator_actions");

            migrationBuilder.DropColumn(
                name: "cancel_reason",
                table: "batch_runs");

            migrationBuilder.DropColumn(
                name: "cancel_requested_at",
                table: "batch_runs");
        }
    }
}
