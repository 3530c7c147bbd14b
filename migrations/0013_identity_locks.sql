-- Identity under concurrency (issue 13, part 4).
--
-- Named locks: a row per lock name, upserted by `db::lock` inside a write transaction. On
-- PostgreSQL the upsert holds the row lock until commit, so two transactions taking the same
-- name run one after the other (the second's later statements see the first's commit); on
-- SQLite write transactions are already serialised. Customers' identity keys (normalised
-- email, E.164 phone) are locked before the lookup-then-insert of leads and creations. Names
-- are stored hashed (SHA-256): no email or phone is kept here after its customer is gone.
CREATE TABLE named_locks (
    name_hash TEXT NOT NULL PRIMARY KEY,
    taken_at BIGINT NOT NULL
);

-- Idempotency keys belong to their caller: unique per (scope, key), and the request's
-- fingerprint tells a retry (same body: replayed) from a reused key (another body: refused).
ALTER TABLE leads ADD COLUMN idempotency_scope TEXT;
ALTER TABLE leads ADD COLUMN request_fingerprint TEXT;
UPDATE leads SET idempotency_scope = CASE WHEN created_by IS NULL THEN 'system' ELSE 'user:' || CAST(created_by AS TEXT) END
    WHERE idempotency_key IS NOT NULL;
DROP INDEX leads_idempotency;
CREATE UNIQUE INDEX leads_idempotency ON leads (idempotency_scope, idempotency_key);
