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
