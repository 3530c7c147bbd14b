-- The 8-week expiry (issue 15) writes its flags in a narrow table of their own instead of
-- updating `opportunities`: on PostgreSQL, each expiration was a non-HOT update of a wide row
-- under 14 indexes (2.5 KB of WAL per row). A row here is the flag: an opportunity is expired
-- when it has one, since `expired_at`. Only the sweep inserts; nothing deletes (opportunities
-- are never deleted either: the trash is a flag, a customer with opportunities is merged, not
-- deleted), hence no foreign key to check on each of the sweep's million inserts.
-- On SQLite the key is the table's rowid (one B-tree, not a table and its key's index).
-- only: sqlite
CREATE TABLE opportunity_expirations (
    opportunity_id INTEGER NOT NULL PRIMARY KEY,
    expired_at BIGINT NOT NULL
);
-- only: postgres
CREATE TABLE opportunity_expirations (
    opportunity_id BIGINT NOT NULL PRIMARY KEY,
    expired_at BIGINT NOT NULL
);
-- The lists' and the dashboard's "expired between" filter (`in=expired`).
CREATE INDEX opportunity_expirations_at ON opportunity_expirations (expired_at, opportunity_id);
INSERT INTO opportunity_expirations (opportunity_id, expired_at)
SELECT id, COALESCE(expired_at, updated_at) FROM opportunities WHERE expired = 1;
-- The sweep walks the opportunities by creation in keyset ranges, the rule's status on the
-- index (the dashboards' "created between" reads it as before).
DROP INDEX opportunities_created_at;
CREATE INDEX opportunities_created_at ON opportunities (created_at, id, status);
DROP INDEX opportunities_expiry;
DROP INDEX opportunities_expired_at;
-- The dashboard's figure triggers (`reports::figures::ensure`) read `expired_at`: SQLite drops
-- no column a trigger names, and PostgreSQL's trigger functions would fail on their next run.
-- They go with the figures' state; the start-up that follows reinstalls them (reading the new
-- table) and rebuilds the figures, as after any new version of the triggers.
-- only: sqlite
DROP TRIGGER IF EXISTS sales_figures_expired_insert;
-- only: sqlite
DROP TRIGGER IF EXISTS sales_figures_expired_update;
-- only: sqlite
DROP TRIGGER IF EXISTS sales_figures_expired_delete;
-- only: postgres
DROP TRIGGER IF EXISTS sales_figures_insert ON opportunities;
-- only: postgres
DROP TRIGGER IF EXISTS sales_figures_update ON opportunities;
-- only: postgres
DROP TRIGGER IF EXISTS sales_figures_delete ON opportunities;
DELETE FROM report_zone;
ALTER TABLE opportunities DROP COLUMN expired;
ALTER TABLE opportunities DROP COLUMN expired_at;
