using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Postgres
{
    /// <summary>
    /// The engine speaks no domain: its tables' day column is <c>day</c> (batch_runs, batch_alerts,
    /// operator_actions; renamed in place, with their indexes), and a job's own counts live in a JSON
    /// <c>counters</c> column on runs, attempts and partitions, replacing the asset refresh's re-based columns.
    /// </summary>
    public partial class EngineDayAndCounters : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.RenameColumn(
                name: "snapshot_day",
                table: "batch_runs",
                newName: "day");

            migrationBuilder.RenameIndex(
                name: "ix_batch_runs_snapshot_day",
                table: "batch_runs",
                newName: "ix_batch_runs_day");

            migrationBuilder.RenameIndex(
                name: "ix_batch_runs_job_name_snapshot_day",
                table: "batch_runs",
                newName: "ix_batch_runs_job_name_day");

            migrationBuilder.RenameColumn(
                name: "snapshot_day",
                table: "batch_alerts",
                newName: "day");

            migrationBuilder.RenameIndex(
                name: "ix_batch_alerts_job_name_snapshot_day_condition_kind",
                table: "batch_alerts",
                newName: "ix_batch_alerts_job_name_day_condition_kind");

            migrationBuilder.RenameColumn(
                name: "snapshot_day",
                table: "operator_actions",
                newName: "day");

            migrationBuilder.AddColumn<string>(
                name: "counters",
                table: "batch_runs",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "counters",
                table: "batch_run_partitions",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "counters",
                table: "batch_run_attempts",
                type: "text",
                nullable: true);

            // The re-based counts move into the job's own counters, written as the engine writes them (a
            // flat JSON object, names in order; zeros are no count, so a run that re-based nothing has none). A run's counts were its latest recorded outcome's, so that
            // attempt (the latest one that finished) carries them too: the day, summed over its
            // attempts, reads the same figures as before.
            migrationBuilder.Sql("""
                UPDATE batch_runs SET counters = '{"rebasedDays":' || batch_runs.rebased_days || ',"rebasedUsers":' || batch_runs.rebased_users || '}'
                 WHERE rebased_users <> 0 OR rebased_days <> 0;
                """);
            migrationBuilder.Sql("""
                UPDATE batch_run_partitions SET counters = '{"rebasedDays":' || batch_run_partitions.rebased_days || ',"rebasedUsers":' || batch_run_partitions.rebased_users || '}'
                 WHERE rebased_users <> 0 OR rebased_days <> 0;
                """);
            migrationBuilder.Sql("""
                UPDATE batch_run_attempts
                   SET counters = (SELECT r.counters FROM batch_runs r WHERE r.id = batch_run_attempts.run_id)
                 WHERE finished_at IS NOT NULL
                   AND attempt = (SELECT MAX(a.attempt) FROM batch_run_attempts a
                                   WHERE a.run_id = batch_run_attempts.run_id AND a.finished_at IS NOT NULL)
                   AND EXISTS (SELECT 1 FROM batch_runs r WHERE r.id = batch_run_attempts.run_id AND r.counters IS NOT NULL);
                """);

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

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.RenameColumn(
                name: "day",
                table: "batch_runs",
                newName: "snapshot_day");

            migrationBuilder.RenameIndex(
                name: "ix_batch_runs_day",
                table: "batch_runs",
                newName: "ix_batch_runs_snapshot_day");

            migrationBuilder.RenameIndex(
                name: "ix_batch_runs_job_name_day",
                table: "batch_runs",
                newName: "ix_batch_runs_job_name_snapshot_day");

            migrationBuilder.RenameColumn(
                name: "day",
                table: "batch_alerts",
                newName: "snapshot_day");

            migrationBuilder.RenameIndex(
                name: "ix_batch_alerts_job_name_day_condition_kind",
                table: "batch_alerts",
                newName: "ix_batch_alerts_job_name_snapshot_day_condition_kind");

            migrationBuilder.RenameColumn(
                name: "day",
                table: "operator_actions",
                newName: "snapshot_day");

            migrationBuilder.AddColumn<int>(
                name: "rebased_days",
                table: "batch_runs",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "rebased_users",
                table: "batch_runs",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "rebased_days",
                table: "batch_run_partitions",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "rebased_users",
                table: "batch_run_partitions",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            // Back to the columns: the re-based counts of the job's counters (others had no column before).
            migrationBuilder.Sql("""
                UPDATE batch_runs SET rebased_users = COALESCE((batch_runs.counters::jsonb ->> 'rebasedUsers')::integer, 0),
                                      rebased_days = COALESCE((batch_runs.counters::jsonb ->> 'rebasedDays')::integer, 0)
                 WHERE counters IS NOT NULL;
                """);
            migrationBuilder.Sql("""
                UPDATE batch_run_partitions SET rebased_users = COALESCE((batch_run_partitions.counters::jsonb ->> 'rebasedUsers')::integer, 0),
                                                rebased_days = COALESCE((batch_run_partitions.counters::jsonb ->> 'rebasedDays')::integer, 0)
                 WHERE counters IS NOT NULL;
                """);

            migrationBuilder.DropColumn(
                name: "counters",
                table: "batch_runs");

            migrationBuilder.DropColumn(
                name: "counters",
                table: "batch_run_partitions");

            migrationBuilder.DropColumn(
                name: "counters",
                table: "batch_run_attempts");
        }
    }
}
