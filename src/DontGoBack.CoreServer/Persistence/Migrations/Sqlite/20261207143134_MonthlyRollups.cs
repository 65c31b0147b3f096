using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Sqlite
{
    /// <summary>
    /// The history lifecycle (issue 27): <c>asset_month_rollups</c>, one row per user and month of daily snapshots let
    /// go (opening, closing, net flow, compound market multiplier, the days it covers), and <c>asset_rolled_up_months</c>,
    /// the months rolled up so far, before which no write may land.
    /// </summary>
    public partial class MonthlyRollups : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "asset_month_rollups",
                columns: table => new
                {
                    user_id = table.Column<long>(type: "INTEGER", nullable: false),
                    month = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    first_day = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    last_day = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    days = table.Column<int>(type: "INTEGER", nullable: false),
                    opening_amount = table.Column<long>(type: "INTEGER", nullable: false),
                    closing_amount = table.Column<long>(type: "INTEGER", nullable: false),
                    net_flow = table.Column<long>(type: "INTEGER", nullable: false),
                    market_multiplier = table.Column<double>(type: "REAL", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asset_month_rollups", x => new { x.user_id, x.month });
                    table.CheckConstraint("ck_asset_month_rollups_closing_non_negative", "closing_amount >= 0");
                    table.CheckConstraint("ck_asset_month_rollups_opening_non_negative", "opening_amount >= 0");
                    table.ForeignKey(
                        name: "fk_asset_month_rollups_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "asset_rolled_up_months",
                columns: table => new
                {
                    month = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    users = table.Column<long>(type: "INTEGER", nullable: false),
                    rolled_up_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    daily_rows_deleted_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asset_rolled_up_months", x => x.month);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "asset_month_rollups");

            migrationBuilder.DropTable(
                name: "asset_rolled_up_months");
        }
    }
}
