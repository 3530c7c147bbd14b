-- Email delivery and job workers (issue 16, "Email and start-up").
--
-- Every process run that claims jobs registers here (`jobs::Worker`): its id is what
-- `jobs.locked_by` says, `host` tells which processes share its process ids (host name, boot
-- id and process namespace; NULL where unknown) and `heartbeat_at` is renewed with the leases
-- of its jobs. A starting process releases the claims of the dead processes of its host.
CREATE TABLE workers (
    id TEXT NOT NULL PRIMARY KEY,
    host TEXT,
    pid BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
CREATE INDEX workers_host ON workers (host);

-- Emails whose delivery job gave up left them `queued` for ever (a wrong smtp_url failed the
-- job before the email was touched): they are `failed`, so that they can be resent.
-- One uncorrelated list of the emails with a live delivery job (the payload is `{"email_id":N}`), read once.
UPDATE emails SET status = 'failed', last_error = COALESCE(last_error, 'delivery abandoned: the delivery job failed')
WHERE status = 'queued' AND CAST(id AS TEXT) NOT IN (
    SELECT substr(payload, 13, length(payload) - 13) FROM jobs
    WHERE kind = 'deliver-email' AND status IN ('queued', 'running')
);

-- The worker that sent an email (its `workers.id`), so that whoever asked for the delivery
-- is told who made it.
ALTER TABLE emails ADD COLUMN delivered_by TEXT;
