-- Conversations on a request (issue 18): direct messages between staff and the customer
-- (portal users, or email replies landed by the inbound mail reader).

CREATE TABLE request_messages (
    id {{ID}},
    request_id BIGINT NOT NULL REFERENCES service_requests(id) ON DELETE CASCADE,
    -- 'in': from the customer (portal or email); 'out': from staff.
    direction TEXT NOT NULL,
    -- 'staff' | 'portal' | 'email'
    author_kind TEXT NOT NULL,
    author_user_id BIGINT REFERENCES users(id),
    author_portal_id BIGINT REFERENCES portal_accounts(id),
    author_name TEXT NOT NULL,
    author_email TEXT,
    body TEXT NOT NULL,
    -- Staff message: whether the customer was emailed (and the email's id).
    notified BIGINT NOT NULL DEFAULT 0,
    email_id BIGINT REFERENCES emails(id),
    -- Customer message: when staff marked it read (NULL: unread), and who.
    read_at BIGINT,
    read_by BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX request_messages_request ON request_messages (request_id, id);
CREATE INDEX request_messages_unread ON request_messages (direction, read_at, request_id);

-- A conversation blocked by staff: history visible, nobody writes; the reason shown in the portal.
ALTER TABLE service_requests ADD COLUMN conversation_blocked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE service_requests ADD COLUMN conversation_note TEXT;

-- Attachments of a message are documents of the request.
ALTER TABLE documents ADD COLUMN message_id BIGINT REFERENCES request_messages(id);
