-- Partners (issue 19): partner organisations (resellers), their users (the third kind of
-- user, bound to one partner organisation), their opportunities, and the vendor's news.
--
-- A partner user is not a staff user nor a customer's portal account: they have their own
-- table, sessions and single-use links (the same shape as the portal's, driven by the same
-- code in `portal::realm`), and every query a partner user makes is filtered by
-- `partner_id` taken from their session. Staff see partners, and their opportunities,
-- through the partner's channel manager (`owner_id`) and org unit (`unit_id`): the usual
-- visibility filter.

CREATE TABLE partners (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    active BIGINT NOT NULL DEFAULT 1,
    -- The staff unit that follows the partner, and the channel manager (a staff user).
    unit_id BIGINT NOT NULL REFERENCES org_units(id),
    owner_id BIGINT NOT NULL REFERENCES users(id),
    email TEXT,
    phone TEXT,
    -- Whether the partner's administrators may invite colleagues themselves.
    admin_invites BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX partners_owner ON partners (owner_id, id);
CREATE INDEX partners_unit ON partners (unit_id, id);

CREATE TABLE partner_users (
    id {{ID}},
    partner_id BIGINT NOT NULL REFERENCES partners(id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    phone TEXT,
    password_hash TEXT,
    -- Partner roles: administrator (invites colleagues) and the right "Opportunités" (partner
    -- opportunities and pre-sales requests).
    is_admin BIGINT NOT NULL DEFAULT 0,
    can_opportunities BIGINT NOT NULL DEFAULT 1,
    -- invited (no password yet) | active | deactivated
    status TEXT NOT NULL,
    invited_by_name TEXT NOT NULL,
    invited_at BIGINT NOT NULL,
    last_login_at BIGINT,
    password_changed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX partner_users_partner ON partner_users (partner_id, name, id);

-- Single-use links sent by email: `invite` (set a first password) and `reset`.
CREATE TABLE partner_links (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES partner_users(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX partner_links_user ON partner_links (user_id, purpose);

CREATE TABLE partner_sessions (
    id_hash TEXT NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES partner_users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX partner_sessions_user ON partner_sessions (user_id);

-- A partner's own deals. `opportunity_type` is a code of the value list
-- `partner_opportunity_type` (its flag `presales` marks the types eligible for a pre-sales
-- request; `primo`, a new customer, carries it by default); `status` a code of the list
-- `partner_opportunity_status`. The expected close date is a calendar date (YYYY-MM-DD).
CREATE TABLE partner_opportunities (
    id {{ID}},
    partner_id BIGINT NOT NULL REFERENCES partners(id),
    customer_name TEXT NOT NULL,
    contact_name TEXT,
    contact_email TEXT,
    contact_phone TEXT,
    product_interest TEXT,
    amount_cents BIGINT,
    expected_close_date TEXT,
    opportunity_type TEXT NOT NULL,
    status TEXT NOT NULL,
    description TEXT,
    created_by_user_id BIGINT REFERENCES partner_users(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX partner_opportunities_partner ON partner_opportunities (partner_id, id);
CREATE INDEX partner_opportunities_partner_status ON partner_opportunities (partner_id, status, id);
CREATE INDEX partner_opportunities_status ON partner_opportunities (status, id);

-- The vendor's news for partners. The body is safe formatted text (a small markup rendered
-- to escaped HTML, never raw HTML). Audience `all` (every partner) or `some` (those listed in
-- news_item_partners). An item shows in the partner portal from `published_at`.
CREATE TABLE news_items (
    id {{ID}},
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    body TEXT NOT NULL,
    image_type TEXT,
    image_data {{BLOB}},
    published_at BIGINT NOT NULL,
    audience TEXT NOT NULL,
    author_id BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX news_items_published ON news_items (published_at, id);

CREATE TABLE news_item_partners (
    news_item_id BIGINT NOT NULL REFERENCES news_items(id) ON DELETE CASCADE,
    partner_id BIGINT NOT NULL REFERENCES partners(id),
    PRIMARY KEY (news_item_id, partner_id)
);
CREATE INDEX news_item_partners_partner ON news_item_partners (partner_id, news_item_id);

-- When a partner user read a news item (absent: unread).
CREATE TABLE news_reads (
    user_id BIGINT NOT NULL REFERENCES partner_users(id) ON DELETE CASCADE,
    news_item_id BIGINT NOT NULL REFERENCES news_items(id) ON DELETE CASCADE,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, news_item_id)
);
