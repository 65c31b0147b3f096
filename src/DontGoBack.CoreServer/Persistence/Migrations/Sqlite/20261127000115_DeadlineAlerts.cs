using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class DeadlineAlerts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "batch_alerts",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    job_name = table.Column<string>(type: "TEXT", maxLength: 50, nullable: false),
                    snapshot_day = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    condition = table.Column<string>(type: "TEXT", maxLength: 30, nullable: false),
                    kind = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    node = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    payload = table.Column<string>(type: "TEXT", maxLength: 8000, nullable: false),
                    delivery = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    next_attempt_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    lease_until = table.Column<DateTimeOffset>(type: "TEXT", nullable: true),
                    sent_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: true),
                    last_error = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_batch_alerts", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_batch_alerts_delivery_next_attempt_at",
                table: "batch_alerts",
                columns: new[] { "delivery", "next_attempt_at" });

            migrationBuilder.CreateIndex(
                name: "ix_batch_alerts_job_name_snapshot_day_condition_kind",
                table: "batch_alerts",
                columns: new[] { "job_name", "snapshot_day", "condition", "kind" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "batch_alerts");
        }
    }
}
