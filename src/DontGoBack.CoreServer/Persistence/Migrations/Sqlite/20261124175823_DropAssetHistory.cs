using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class DropAssetHistory : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // Its rows were moved to daily_asset_snapshots and asset_changes by NetFlowAndChangeHistory.
            migrationBuilder.DropTable(name: "asset_history");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {

        }
    }
}
