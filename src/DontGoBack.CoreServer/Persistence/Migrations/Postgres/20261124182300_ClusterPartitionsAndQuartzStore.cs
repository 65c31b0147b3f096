using System;
using DontGoBack.CoreServer.Persistence;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class ClusterPartitionsAndQuartzStore : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // Quartz's clustered job store (Batch:Clustered) lives in the same database.
            foreach (var statement in QuartzJobStoreSchema.PostgresStatements())
                migrationBuilder.Sql(statement);

            migrationBuilder.CreateTable(
                name: "batch_run_partitions",
                columns: table => new
                {
                    run_id = table.Column<long>(type: "bigint", nullable: false),
                    partition_no = table.Column<int>(type: "integer", nullable: false),
                    first_user_id = table.Column<long>(type: "bigint", nullable: false),
                    last_user_id = table.Column<long>(type: "bigint", nullable: false),
                    status = table.Column<string>(type: "character varying(20)", maxLength: 20, nullable: false),
                    node = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    total = table.Column<int>(type: "integer", nullable: false),
                    success = table.Column<int>(type: "integer", nullable: false),
                    skipped = table.Column<int>(type: "integer", nullable: false),
                    failed = table.Column<int>(type: "integer", nullable: false),
                    error = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
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
