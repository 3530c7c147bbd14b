-- Outbound email: the outbox, attachments, per-record threads, editable templates,
-- notification preferences.

CREATE TABLE emails (
    id {{ID}},
    entity_type TEXT,
    entity_id BIGINT,
    event TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    to_addrs TEXT NOT NULL,
    cc_addrs TEXT NOT NULL,
    bcc_addrs TEXT NOT NULL,
    reply_to TEXT,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT,
    message_id TEXT NOT NULL UNIQUE,
    in_reply_to TEXT,
    references_ids TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_via TEXT,
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX emails_entity ON emails (entity_type, entity_id, id);
CREATE INDEX emails_status ON emails (status, id);

CREATE TABLE email_attachments (
    id {{ID}},
    email_id BIGINT NOT NULL REFERENCES emails(id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content {{BLOB}} NOT NULL
);
CREATE INDEX email_attachments_email ON email_attachments (email_id);

CREATE TABLE mail_threads (
    entity_type TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    PRIMARY KEY (entity_type, entity_id)
);

CREATE TABLE email_templates (
    event TEXT NOT NULL,
    lang TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by BIGINT,
    PRIMARY KEY (event, lang)
);

CREATE TABLE notification_prefs (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    PRIMARY KEY (user_id, event)
);
