-- What the asset history takes on disk per stored row, from the measured sizes: heap, indexes and TOAST
-- (pg_total_relation_size, the indexes alone pg_indexes_size), summed over each table's leaf partitions
-- when it has them (pg_partition_tree has no row for a plain table, which then counts as itself), so the
-- same lines hold on the monthly partitions of issue 27. Run it after VACUUM ANALYZE, as bench/read.sh does after its seeding:
--   psql -qAt -d dontgoback_read -f bench/retention/bytes.sql
-- Per user-day: the snapshots plus the change rows' share (their bytes over the snapshot count: what the
-- changes add to each stored day). Per user-month: a roll-up row. Prints two lines.
WITH sizes AS (
    SELECT r.root,
           coalesce(sum(pg_total_relation_size(leaf.relid)), pg_total_relation_size(r.root)) AS total,
           coalesce(sum(pg_indexes_size(leaf.relid)), pg_indexes_size(r.root)) AS indexes
      FROM (VALUES ('daily_asset_snapshots'::regclass), ('asset_changes'), ('asset_month_rollups')) r (root)
      LEFT JOIN LATERAL (SELECT p.relid FROM pg_partition_tree(r.root) p WHERE p.isleaf) leaf ON true
     GROUP BY r.root
), counted AS (
    SELECT (SELECT count(*) FROM daily_asset_snapshots) AS snapshots,
           (SELECT count(*) FROM asset_changes) AS changes,
           (SELECT count(*) FROM asset_month_rollups) AS rollups,
           (SELECT total FROM sizes WHERE root = 'daily_asset_snapshots'::regclass) AS snapshot_bytes,
           (SELECT indexes FROM sizes WHERE root = 'daily_asset_snapshots'::regclass) AS snapshot_index_bytes,
           (SELECT total FROM sizes WHERE root = 'asset_changes'::regclass) AS change_bytes,
           (SELECT total FROM sizes WHERE root = 'asset_month_rollups'::regclass) AS rollup_bytes,
           (SELECT indexes FROM sizes WHERE root = 'asset_month_rollups'::regclass) AS rollup_index_bytes
)
SELECT format('Stored per user-day: %s B = daily_asset_snapshots %s rows in %s MB (indexes %s MB), %s B a row, + asset_changes %s rows in %s MB, %s B per snapshot.',
              round((snapshot_bytes + change_bytes)::numeric / nullif(snapshots, 0), 1),
              snapshots, round(snapshot_bytes / 1048576.0, 1), round(snapshot_index_bytes / 1048576.0, 1),
              round(snapshot_bytes::numeric / nullif(snapshots, 0), 1),
              changes, round(change_bytes / 1048576.0, 1), round(change_bytes::numeric / nullif(snapshots, 0), 1))
  FROM counted
UNION ALL
SELECT CASE WHEN rollups = 0 THEN 'Stored per user-month roll-up: no roll-up rows.'
            ELSE format('Stored per user-month roll-up: %s B = asset_month_rollups %s rows in %s MB (primary key %s MB).',
                        round(rollup_bytes::numeric / rollups, 1), rollups, round(rollup_bytes / 1048576.0, 1),
                        round(rollup_index_bytes / 1048576.0, 1)) END
  FROM counted;
