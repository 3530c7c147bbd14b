-- Inbound email (issue 18, "CatchMail"): every message taken from a mailbox, once. The unique
-- key (its Message-ID, or a hash of its bytes when it has none) makes a message fetched twice,
-- or by two processes at once, land once.

CREATE TABLE inbound_emails (
    id {{ID}},
    -- The configured mailbox it was taken from.
    mailbox TEXT NOT NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    message_id TEXT,
    from_email TEXT NOT NULL,
    from_name TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- The reply's own text (quoted history and signature stripped).
    body TEXT NOT NULL,
    -- landed | quarantined | ignored | discarded
    status TEXT NOT NULL,
    -- What decided: token | thread | subject | new_request | assigned | created (landed ones).
    rule TEXT,
    -- Why it is quarantined or ignored (a message key).
    reason TEXT,
    -- The rules tried and what each found (JSON list).
    trace TEXT NOT NULL,
    request_id BIGINT REFERENCES service_requests(id),
    message_row_id BIGINT REFERENCES request_messages(id),
    -- The original, kept while it waits in quarantine.
    raw {{BLOB}},
    received_at BIGINT NOT NULL,
    handled_by BIGINT REFERENCES users(id),
    handled_at BIGINT
);
CREATE INDEX inbound_emails_status ON inbound_emails (status, id);
CREATE INDEX inbound_emails_sender ON inbound_emails (from_email, received_at);

-- The matching rule that landed an email on the conversation.
ALTER TABLE request_messages ADD COLUMN inbound_rule TEXT;
