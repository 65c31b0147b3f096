using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class LeanHistory : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // A day's market move lives in its snapshot (opening, multiplier, delta); the change
            // history keeps what came from outside and the openings. The history reads the same
            // (AssetChangeHistory puts the moves back from the snapshots).
            migrationBuilder.Sql("DELETE FROM asset_changes WHERE kind = 'Market'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            // The moves come back as rows, but after every recorded change: their place in the order written is not restored.
            migrationBuilder.Sql("""
                INSERT INTO asset_changes (user_id, kind, amount_before, amount_after, delta, snapshot_id, snapshot_day, changed_at)
                SELECT user_id, 'Market', opening_amount, opening_amount + market_delta, market_delta, id, snapshot_day, updated_at
                  FROM daily_asset_snapshots WHERE market_multiplier IS NOT NULL
                 ORDER BY user_id, snapshot_day
                """);
        }
    }
}
