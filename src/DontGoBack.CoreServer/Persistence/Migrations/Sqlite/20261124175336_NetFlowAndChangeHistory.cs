using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class NetFlowAndChangeHistory : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "fk_users_asset_history_current_asset_history_id",
                table: "users");

            migrationBuilder.RenameColumn(
                name: "current_asset_history_id",
                table: "users",
                newName: "current_snapshot_id");

            migrationBuilder.RenameIndex(
                name: "ix_users_current_asset_history_id",
                table: "users",
                newName: "ix_users_current_snapshot_id");

            migrationBuilder.CreateTable(
                name: "daily_asset_snapshots",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    user_id = table.Column<long>(type: "INTEGER", nullable: false),
                    snapshot_day = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    opening_amount = table.Column<long>(type: "INTEGER", nullable: false),
                    closing_amount = table.Column<long>(type: "INTEGER", nullable: false),
                    market_multiplier = table.Column<double>(type: "REAL", nullable: true),
                    market_delta = table.Column<long>(type: "INTEGER", nullable: false),
                    net_flow = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_daily_asset_snapshots", x => x.id);
                    table.CheckConstraint("ck_daily_asset_snapshots_closing_non_negative", "closing_amount >= 0");
                    table.CheckConstraint("ck_daily_asset_snapshots_opening_non_negative", "opening_amount >= 0");
                    table.ForeignKey(
                        name: "fk_daily_asset_snapshots_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "asset_changes",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    user_id = table.Column<long>(type: "INTEGER", nullable: false),
                    kind = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    amount_before = table.Column<long>(type: "INTEGER", nullable: false),
                    amount_after = table.Column<long>(type: "INTEGER", nullable: false),
                    delta = table.Column<long>(type: "INTEGER", nullable: false),
                    reason = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true),
                    idempotency_key = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    snapshot_id = table.Column<long>(type: "INTEGER", nullable: false),
                    snapshot_day = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    changed_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asset_changes", x => x.id);
                    table.CheckConstraint("ck_asset_changes_after_non_negative", "amount_after >= 0");
                    table.ForeignKey(
                        name: "fk_asset_changes_daily_asset_snapshots_snapshot_id",
                        column: x => x.snapshot_id,
                        principalTable: "daily_asset_snapshots",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_asset_changes_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_asset_changes_snapshot_id",
                table: "asset_changes",
                column: "snapshot_id");

            migrationBuilder.CreateIndex(
                name: "ix_asset_changes_user_id_idempotency_key",
                table: "asset_changes",
                columns: new[] { "user_id", "idempotency_key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_asset_changes_user_id_snapshot_day",
                table: "asset_changes",
                columns: new[] { "user_id", "snapshot_day" });

            migrationBuilder.CreateIndex(
                name: "ix_daily_asset_snapshots_user_id_snapshot_day",
                table: "daily_asset_snapshots",
                columns: new[] { "user_id", "snapshot_day" },
                unique: true);


            // Move every asset_history row into the new tables (same ids, so the users' pointers
            // stay valid): a user's first row becomes an opening snapshot, each later one a market
            // move from the row before it; each gets its change-history row.
            migrationBuilder.Sql(@"
INSERT INTO daily_asset_snapshots (id, user_id, snapshot_day, opening_amount, closing_amount, market_multiplier, market_delta, net_flow, updated_at)
SELECT h.id, h.user_id, h.snapshot_day,
       COALESCE(p.amount, h.amount), h.amount,
       CASE WHEN p.amount IS NULL THEN NULL ELSE h.multiplier END,
       h.amount - COALESCE(p.amount, h.amount), 0, h.changed_at
  FROM asset_history h
  LEFT JOIN asset_history p
    ON p.user_id = h.user_id
   AND p.snapshot_day = (SELECT max(q.snapshot_day) FROM asset_history q WHERE q.user_id = h.user_id AND q.snapshot_day < h.snapshot_day);");
            migrationBuilder.Sql(@"
INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, reason, idempotency_key, snapshot_id, snapshot_day, changed_at)
SELECT s.user_id,
       CASE WHEN s.market_multiplier IS NULL THEN 'Opening' ELSE 'Market' END,
       CASE WHEN s.market_multiplier IS NULL THEN 0 ELSE s.opening_amount END,
       s.closing_amount,
       CASE WHEN s.market_multiplier IS NULL THEN s.closing_amount ELSE s.market_delta END,
       'moved from asset_history', NULL, s.id, s.snapshot_day, s.updated_at
  FROM daily_asset_snapshots s;");

            // asset_history is dropped by the next migration: SQLite only drops the users -> asset_history
            // foreign key when it rebuilds users at the end of this one, and dropping the table before
            // that would trip the key.

            migrationBuilder.AddForeignKey(
                name: "fk_users_daily_asset_snapshots_current_snapshot_id",
                table: "users",
                column: "current_snapshot_id",
                principalTable: "daily_asset_snapshots",
                principalColumn: "id",
                onDelete: ReferentialAction.Restrict);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "fk_users_daily_asset_snapshots_current_snapshot_id",
                table: "users");

            migrationBuilder.DropTable(
                name: "asset_changes");

            migrationBuilder.DropTable(
                name: "daily_asset_snapshots");

            migrationBuilder.RenameColumn(
                name: "current_snapshot_id",
                table: "users",
                newName: "current_asset_history_id");

            migrationBuilder.RenameIndex(
                name: "ix_users_current_snapshot_id",
                table: "users",
                newName: "ix_users_current_asset_history_id");

            migrationBuilder.CreateTable(
                name: "asset_history",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    user_id = table.Column<long>(type: "INTEGER", nullable: false),
                    amount = table.Column<long>(type: "INTEGER", nullable: false),
                    changed_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    multiplier = table.Column<double>(type: "REAL", nullable: false),
                    snapshot_day = table.Column<DateOnly>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asset_history", x => x.id);
                    table.CheckConstraint("ck_asset_history_amount_non_negative", "amount >= 0");
                    table.ForeignKey(
                        name: "fk_asset_history_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_asset_history_user_id_snapshot_day",
                table: "asset_history",
                columns: new[] { "user_id", "snapshot_day" },
                unique: true);

            migrationBuilder.AddForeignKey(
                name: "fk_users_asset_history_current_asset_history_id",
                table: "users",
                column: "current_asset_history_id",
                principalTable: "asset_history",
                principalColumn: "id",
                onDelete: ReferentialAction.Restrict);
        }
    }
}
