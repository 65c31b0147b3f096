-- Snapshot retention, the two ways of letting a month of history go, on the same data in one database:
-- row by row from the table as it is (a batch in the shape of the DELETE AssetHistoryRetention uses for
-- the changes), and a monthly range partition detached and dropped. Plain SQL for psql on a throwaway cluster:
--   scripts/postgres.sh start 25440   # prints the connection string
--   psql -h 127.0.0.1 -p 25440 -U postgres -v users=200000 -f bench/retention/month-out.sql
--   scripts/postgres.sh stop 25440
-- Both tables carry what makes a delete expensive in the schema: the primary key, the unique
-- (user_id, snapshot_day) index and the users' pointer with its foreign key (ON DELETE RESTRICT,
-- through its index). The partitioned one needs the day in its primary key, so its pointer is two
-- columns. Not here: asset_changes and its foreign key to the snapshot (row by row would pay a probe
-- per snapshot, the detach one check of the whole partition). The server of scripts/postgres.sh has
-- full_page_writes off, so the WAL figures leave out the page images production writes after a checkpoint.
\set ON_ERROR_STOP on
\if :{?users}
\else
  \set users 200000
\endif
DROP DATABASE IF EXISTS dontgoback_retention WITH (FORCE);
CREATE DATABASE dontgoback_retention;
\c dontgoback_retention

-- 2026-10-01 .. 2026-11-30: October goes, November stays (every pointer is on its last day).
CREATE TABLE snapshots_one (
    id bigint PRIMARY KEY, user_id bigint NOT NULL, snapshot_day date NOT NULL,
    opening_amount bigint NOT NULL, closing_amount bigint NOT NULL, market_multiplier double precision NOT NULL,
    market_delta bigint NOT NULL, net_flow bigint NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE snapshots_by_month (
    id bigint NOT NULL, user_id bigint NOT NULL, snapshot_day date NOT NULL,
    opening_amount bigint NOT NULL, closing_amount bigint NOT NULL, market_multiplier double precision NOT NULL,
    market_delta bigint NOT NULL, net_flow bigint NOT NULL, updated_at timestamptz NOT NULL,
    PRIMARY KEY (id, snapshot_day)) PARTITION BY RANGE (snapshot_day);
CREATE TABLE snapshots_2026_10 PARTITION OF snapshots_by_month FOR VALUES FROM ('2026-10-01') TO ('2026-11-01');
CREATE TABLE snapshots_2026_11 PARTITION OF snapshots_by_month FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');

-- Day by day, every user within a day, as the daily job writes them.
INSERT INTO snapshots_one
SELECT d.n * :users + u, u, date '2026-10-01' + d.n, 10000000, 10000000, 1.0, 0, 0, now()
  FROM generate_series(0, 60) AS d(n) CROSS JOIN LATERAL generate_series(1, :users) AS u;
INSERT INTO snapshots_by_month SELECT * FROM snapshots_one;
CREATE UNIQUE INDEX ON snapshots_one (user_id, snapshot_day);
CREATE UNIQUE INDEX ON snapshots_by_month (user_id, snapshot_day);

CREATE TABLE users_one (id bigint PRIMARY KEY, current_snapshot_id bigint NOT NULL REFERENCES snapshots_one (id) ON DELETE RESTRICT);
CREATE TABLE users_by_month (
    id bigint PRIMARY KEY, current_snapshot_id bigint NOT NULL, current_snapshot_day date NOT NULL,
    FOREIGN KEY (current_snapshot_id, current_snapshot_day) REFERENCES snapshots_by_month (id, snapshot_day) ON DELETE RESTRICT);
INSERT INTO users_one SELECT u, 60 * :users + u FROM generate_series(1, :users) AS u;
INSERT INTO users_by_month SELECT u, 60 * :users + u, date '2026-11-30' FROM generate_series(1, :users) AS u;
CREATE INDEX ON users_one (current_snapshot_id);
CREATE INDEX ON users_by_month (current_snapshot_id, current_snapshot_day);
VACUUM ANALYZE;
CHECKPOINT;

SELECT count(*) AS october_rows FROM snapshots_one WHERE snapshot_day < date '2026-11-01' \gset
\echo October holds :october_rows snapshots in each table.
\timing on

\echo Row by row: one batch of 100,000 of the October snapshots (the oldest ids first), in the shape of the change history retention DELETE.
SELECT pg_current_wal_insert_lsn() AS wal_before \gset
DELETE FROM snapshots_one WHERE id IN (
    SELECT id FROM snapshots_one WHERE snapshot_day < date '2026-11-01' ORDER BY id LIMIT 100000);
\set deleted :ROW_COUNT
SELECT :deleted AS deleted_rows, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'wal_before') AS wal_bytes,
       round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'wal_before') / :deleted) AS wal_bytes_per_row;

\echo By partition: October detached (its rows checked against no pointer by the foreign key), then dropped.
SELECT pg_current_wal_insert_lsn() AS wal_before \gset
ALTER TABLE snapshots_by_month DETACH PARTITION snapshots_2026_10 CONCURRENTLY;
DROP TABLE snapshots_2026_10;
SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'wal_before') AS wal_bytes;
\timing off
SELECT count(*) AS snapshots_left FROM snapshots_by_month;
