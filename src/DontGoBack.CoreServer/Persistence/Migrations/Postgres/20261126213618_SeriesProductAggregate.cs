using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DontGoBack.CoreServer.Persistence.Migrations.Postgres
{
    /// <summary>
    /// The product of a period's market multipliers for the profile graph's week and month views,
    /// summed in the database: float8 multiplication in the order given (the query orders by day),
    /// the same IEEE steps as AssetSeries.Build, so both give the same bits and the same colour.
    /// </summary>
    public partial class SeriesProductAggregate : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("CREATE AGGREGATE series_product(double precision) (SFUNC = float8mul, STYPE = double precision, INITCOND = '1')");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP AGGREGATE series_product(double precision)");
        }
    }
}
