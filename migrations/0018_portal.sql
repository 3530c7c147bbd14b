-- The customer portal (issue 17): accounts of customers' contacts, their sessions, the
-- single-use links that set a password, and what staff share with them.
--
-- A portal account is not a staff user: it belongs to one customer organisation (the
-- customer record; a person customer is their own organisation) and to one of its contacts
-- (NULL for a person customer: the customer themself). Every portal query is filtered by
-- `customer_id` taken from the session.

ALTER TABLE customers ADD COLUMN portal_enabled BIGINT NOT NULL DEFAULT 0;
-- Whether the customer's portal administrators may invite colleagues themselves.
ALTER TABLE customers ADD COLUMN portal_admin_invites BIGINT NOT NULL DEFAULT 0;

CREATE TABLE portal_accounts (
    id {{ID}},
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    contact_id BIGINT REFERENCES contacts(id),
    -- One key for "this contact of this customer" (0 for the person customer themself).
    contact_key BIGINT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    password_hash TEXT,
    is_admin BIGINT NOT NULL DEFAULT 0,
    -- invited (no password yet) | active | deactivated
    status TEXT NOT NULL,
    -- The SHA-256 of the secret of the personal calendar feed, when one exists.
    calendar_hash TEXT UNIQUE,
    invited_by_name TEXT NOT NULL,
    invited_at BIGINT NOT NULL,
    last_login_at BIGINT,
    password_changed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (customer_id, contact_key)
);

-- Single-use links sent by email: `invite` (set a first password) and `reset`.
CREATE TABLE portal_links (
    token_hash TEXT NOT NULL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES portal_accounts(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX portal_links_account ON portal_links (account_id, purpose);

CREATE TABLE portal_sessions (
    id_hash TEXT NOT NULL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES portal_accounts(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX portal_sessions_account ON portal_sessions (account_id);

-- When a portal user last read a request (what is new since is "unread").
CREATE TABLE portal_reads (
    account_id BIGINT NOT NULL REFERENCES portal_accounts(id) ON DELETE CASCADE,
    request_id BIGINT NOT NULL REFERENCES service_requests(id) ON DELETE CASCADE,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, request_id)
);

-- Requests opened in the portal keep who opened them; documents who uploaded them.
ALTER TABLE service_requests ADD COLUMN portal_account_id BIGINT REFERENCES portal_accounts(id);
ALTER TABLE documents ADD COLUMN portal_account_id BIGINT REFERENCES portal_accounts(id);
-- An intervention's report is shown in the portal only once staff mark it shareable.
ALTER TABLE interventions ADD COLUMN report_shared BIGINT NOT NULL DEFAULT 0;
CREATE INDEX service_requests_customer_status ON service_requests (customer_id, status, id);
CREATE INDEX equipment_customer_serial ON equipment (customer_id, serial_number, id);

-- Request types offered in the portal carry the flag `portal` (all built-in ones do).
UPDATE value_lists SET allowed_flags = TRIM(allowed_flags || ' portal') WHERE code = 'request_type';
UPDATE value_list_items SET flags = TRIM(flags || ' portal')
    WHERE list_code = 'request_type' AND code IN ('panne', 'installation', 'maintenance', 'information');
