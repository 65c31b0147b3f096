using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class ClusterPartitions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "batch_run_partitions",
                columns: table => new
                {
                    run_id = table.Column<long>(type: "INTEGER", nullable: false),
                    partition_no = table.Column<int>(type: "INTEGER", nullable: false),
                    first_user_id = table.Column<long>(type: "INTEGER", nullable: false),
                    last_user_id = table.Column<long>(type: "INTEGER", nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    node = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    total = table.Column<int>(type: "INTEGER", nullable: false),
                    success = table.Column<int>(type: "INTEGER", nullable: false),
                    skipped = table.Column<int>(type: "INTEGER", nullable: false),
                    failed = table.Column<int>(type: "INTEGER", nullable: false),
                    error = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    finished_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_batch_run_partitions", x => new { x.run_id, x.partition_no });
                    table.ForeignKey(
                        name: "fk_batch_run_partitions_batch_runs_run_id",
                        column: x => x.run_id,
                        principalTable: "batch_runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "batch_run_partitions");
        }
    }
}
