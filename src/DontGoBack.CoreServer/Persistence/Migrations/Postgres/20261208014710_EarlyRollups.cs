using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Postgres
{
    /// <summary>
    /// Months are rolled up as soon as they close and stay daily until they leave the history: rolled_up_at is null while a
    /// month's roll-up is under way, and sealed_at marks a month that left the daily history and takes no write. Every month
    /// rolled up before this migration was rolled up as it left, so it is sealed already.
    /// </summary>
    public partial class EarlyRollups : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterColumn<DateTimeOffset>(
                name: "rolled_up_at",
                table: "asset_rolled_up_months",
                type: "timestamp with time zone",
                nullable: true,
                oldClrType: typeof(DateTimeOffset),
                oldType: "timestamp with time zone");

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "sealed_at",
                table: "asset_rolled_up_months",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.Sql("UPDATE asset_rolled_up_months SET sealed_at = rolled_up_at;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "sealed_at",
                table: "asset_rolled_up_months");

            migrationBuilder.AlterColumn<DateTimeOffset>(
                name: "rolled_up_at",
                table: "asset_rolled_up_months",
                type: "timestamp with time zone",
                nullable: false,
                defaultValue: new DateTimeOffset(new DateTime(1, 1, 1, 0, 0, 0, 0, DateTimeKind.Unspecified), new TimeSpan(0, 0, 0, 0, 0)),
                oldClrType: typeof(DateTimeOffset),
                oldType: "timestamp with time zone",
                oldNullable: true);
        }
    }
}
