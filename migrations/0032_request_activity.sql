-- The request's activity (issue 21): internal notes on a service request, written by staff
-- from the request's composer and never shown to the customer portal (the portal reads its
-- own list of tables, this is not one of them).

CREATE TABLE request_notes (
    id {{ID}},
    request_id BIGINT NOT NULL REFERENCES service_requests(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    author_id BIGINT REFERENCES users(id),
    author_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- A request's notes, newest first (the feed, the API's keyset list).
CREATE INDEX request_notes_request ON request_notes (request_id, id);

-- Calls on a service request (issue 21): a call is on an opportunity or on a request, exactly
-- one of the two. PostgreSQL alters the table in place. SQLite cannot drop a column's NOT NULL
-- nor add a constraint: it rebuilds the table (create, copy with the ids, carry the id
-- sequence over, drop, rename; no table references `calls`) and its indexes.
-- only: postgres
ALTER TABLE calls ALTER COLUMN opportunity_id DROP NOT NULL;
-- only: postgres
ALTER TABLE calls ADD COLUMN request_id BIGINT REFERENCES service_requests(id);
-- only: postgres
ALTER TABLE calls ADD CONSTRAINT calls_one_file CHECK ((opportunity_id IS NULL) <> (request_id IS NULL));
-- only: sqlite
CREATE TABLE calls_new (
    id {{ID}},
    opportunity_id BIGINT REFERENCES opportunities(id),
    request_id BIGINT REFERENCES service_requests(id),
    owner_id BIGINT NOT NULL REFERENCES users(id),
    due_at BIGINT NOT NULL,
    subject TEXT NOT NULL,
    notes TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    automatic BIGINT NOT NULL,
    done_at BIGINT,
    reminded_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT calls_one_file CHECK ((opportunity_id IS NULL) <> (request_id IS NULL))
);
-- only: sqlite
INSERT INTO calls_new (id, opportunity_id, owner_id, due_at, subject, notes, status, outcome, automatic, done_at, reminded_at, created_at, updated_at)
SELECT id, opportunity_id, owner_id, due_at, subject, notes, status, outcome, automatic, done_at, reminded_at, created_at, updated_at FROM calls;
-- only: sqlite
DELETE FROM sqlite_sequence WHERE name = 'calls_new';
-- only: sqlite
INSERT INTO sqlite_sequence (name, seq) SELECT 'calls_new', seq FROM sqlite_sequence WHERE name = 'calls';
-- only: sqlite
DROP TABLE calls;
-- only: sqlite
ALTER TABLE calls_new RENAME TO calls;
-- only: sqlite
CREATE INDEX calls_owner ON calls (owner_id, status, due_at);
-- only: sqlite
CREATE INDEX calls_opportunity ON calls (opportunity_id, due_at);
-- only: sqlite
CREATE INDEX calls_reminder ON calls (status, reminded_at, due_at);
-- A request's calls (its feed).
CREATE INDEX calls_request ON calls (request_id, due_at);
