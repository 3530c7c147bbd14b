-- The 8-week sweep's history (issue 15): an expiration is its own history row. The sweep wrote
-- one `audit_events` row per expiration beside its `opportunity_expirations` row, and on
-- PostgreSQL that second row (a heap row, two index entries and an identity value each) was
-- half the sweep's work over a million opportunities. The expiration now carries the id its
-- history row would have had, drawn from the same sequence as `audit_events.id` (on SQLite,
-- reserved in `sqlite_sequence` under the sweep's write lock), so that a record's history
-- (`audit::history`) reads it in its place among the other changes, and the keyset on the
-- event id pages through both. The expirations written before this migration have their
-- `audit_events` row and no `audit_id`.
ALTER TABLE opportunity_expirations ADD COLUMN audit_id BIGINT;
-- On PostgreSQL the "expired between" index is a BRIN index: the table is appended to in the
-- order of `expired_at` (only the sweep inserts, at its moment; nothing updates or deletes), so
-- a block range summary finds a period's rows, and keeping it costs the sweep next to nothing
-- where the B-tree cost about a quarter of each expiration's insert (a descent per row, the
-- two workers' rows interleaved). SQLite keeps its B-tree (no BRIN; its sweep is fast enough).
-- only: postgres
DROP INDEX opportunity_expirations_at;
-- only: postgres
CREATE INDEX opportunity_expirations_at ON opportunity_expirations USING brin (expired_at);
