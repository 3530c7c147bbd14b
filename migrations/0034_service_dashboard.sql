-- The service dashboard (issue 20) reads its figures from indexes alone: every column a
-- figure or the visibility filter (unit, owner, the request's id) needs is in the index.
-- The open requests (the backlog by status, type and age): a tenth of the requests.
CREATE INDEX service_requests_open ON service_requests (branch_id, status, request_type, created_at, owner_id, id) WHERE status <> 'cloture';
-- Opened over a period with their service levels, and closed over a period: the date
-- indexes of migration 24, widened.
DROP INDEX service_requests_created_at;
CREATE INDEX service_requests_created_at ON service_requests (created_at, branch_id, owner_id, id, first_update_at, first_update_due_at, closed_at, close_due_at);
DROP INDEX service_requests_closed_at;
CREATE INDEX service_requests_closed_at ON service_requests (closed_at, branch_id, owner_id, id) WHERE closed_at IS NOT NULL;
