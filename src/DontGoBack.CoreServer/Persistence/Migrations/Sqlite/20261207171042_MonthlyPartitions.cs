using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Sqlite
{
    /// <summary>
    /// The users' pointer carries its snapshot's day, as on PostgreSQL's monthly partitions (issue 27), filled from the
    /// snapshots; SQLite keeps one table and lets months go by batched deletes.
    /// </summary>
    public partial class MonthlyPartitions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateOnly>(
                name: "current_snapshot_day",
                table: "users",
                type: "TEXT",
                nullable: true);
            migrationBuilder.Sql("""
                UPDATE users SET current_snapshot_day = (SELECT s.snapshot_day FROM daily_asset_snapshots s WHERE s.id = users.current_snapshot_id)
                 WHERE current_snapshot_id IS NOT NULL;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "current_snapshot_day",
                table: "users");
        }
    }
}
