using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class ChainRebaseAndOpeningDay : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateOnly>(
                name: "opening_day",
                table: "users",
                type: "TEXT",
                nullable: false,
                defaultValue: new DateOnly(1, 1, 1));

            // An existing account opened on its first snapshot's day (demo users get an opening
            // snapshot); one without any on the day it was created, in UTC for lack of the batch zone here.
            migrationBuilder.Sql("""
                UPDATE users SET opening_day = COALESCE(
                    (SELECT min(s.snapshot_day) FROM daily_asset_snapshots s WHERE s.user_id = users.id),
                    substr(created_at, 1, 10))
                """);

            migrationBuilder.AddColumn<int>(
                name: "rebased_days",
                table: "batch_runs",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "rebased_users",
                table: "batch_runs",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "rebased_days",
                table: "batch_run_partitions",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "rebased_users",
                table: "batch_run_partitions",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "opening_day",
                table: "users");

            migrationBuilder.DropColumn(
                name: "rebased_days",
                table: "batch_runs");

            migrationBuilder.DropColumn(
                name: "rebased_users",
                table: "batch_runs");

            migrationBuilder.DropColumn(
                name: "rebased_days",
                table: "batch_run_partitions");

            migrationBuilder.DropColumn(
                name: "rebased_users",
                table: "batch_run_partitions");
        }
    }
}
