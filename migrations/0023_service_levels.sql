-- Service levels (issue 20): a priority on each request, targets per request type and
-- priority (business minutes to the first customer update and to closing), the due times
-- computed from them, and the alerts sent — once each, across processes, by their key.

ALTER TABLE service_requests ADD COLUMN priority TEXT NOT NULL DEFAULT 'normale';
ALTER TABLE service_requests ADD COLUMN first_update_at BIGINT;
ALTER TABLE service_requests ADD COLUMN first_update_due_at BIGINT;
ALTER TABLE service_requests ADD COLUMN close_due_at BIGINT;
UPDATE service_requests SET first_update_at = (SELECT MIN(u.created_at) FROM request_updates u WHERE u.request_id = service_requests.id);
CREATE INDEX service_requests_first_update_due ON service_requests (first_update_due_at) WHERE first_update_at IS NULL AND status <> 'cloture';
CREATE INDEX service_requests_close_due ON service_requests (close_due_at) WHERE status <> 'cloture';

CREATE TABLE service_levels (
    request_type TEXT NOT NULL,
    priority TEXT NOT NULL,
    -- Business minutes; NULL: no target.
    first_update_minutes BIGINT,
    close_minutes BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (request_type, priority)
);

-- One row per alert sent: (request, 'first_update' | 'close', 'warning' | 'breached', the due
-- time it was about). A due time moved by a change of priority may be alerted again.
CREATE TABLE sla_alerts (
    request_id BIGINT NOT NULL REFERENCES service_requests(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    level TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (request_id, target, level, due_at)
);
