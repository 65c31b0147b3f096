using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class InitialSchema : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "asset_refresh_failures",
                columns: table => new
                {
                    snapshot_day = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    user_id = table.Column<long>(type: "INTEGER", nullable: false),
                    failure_class = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    reason = table.Column<string>(type: "TEXT", maxLength: 500, nullable: false),
                    attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    failed_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asset_refresh_failures", x => new { x.snapshot_day, x.user_id });
                });

            migrationBuilder.CreateTable(
                name: "asset_history",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    user_id = table.Column<long>(type: "INTEGER", nullable: false),
                    amount = table.Column<long>(type: "INTEGER", nullable: false),
                    multiplier = table.Column<double>(type: "REAL", nullable: false),
                    snapshot_day = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    changed_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asset_history", x => x.id);
                    table.CheckConstraint("ck_asset_history_amount_non_negative", "amount >= 0");
                });

            migrationBuilder.CreateTable(
                name: "users",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    status = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    current_asset_history_id = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_users", x => x.id);
                    table.ForeignKey(
                        name: "fk_users_asset_history_current_asset_history_id",
                        column: x => x.current_asset_history_id,
                        principalTable: "asset_history",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateIndex(
                name: "ix_asset_history_user_id_snapshot_day",
                table: "asset_history",
                columns: new[] { "user_id", "snapshot_day" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_users_current_asset_history_id",
                table: "users",
                column: "current_asset_history_id");

            migrationBuilder.CreateIndex(
                name: "ix_users_status_id",
                table: "users",
                columns: new[] { "status", "id" });

            migrationBuilder.AddForeignKey(
                name: "fk_asset_history_users_user_id",
                table: "asset_history",
                column: "user_id",
                principalTable: "users",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "fk_asset_history_users_user_id",
                table: "asset_history");

            migrationBuilder.DropTable(
                name: "asset_refresh_failures");

            migrationBuilder.DropTable(
                name: "users");

            migrationBuilder.DropTable(
                name: "asset_history");
        }
    }
}
