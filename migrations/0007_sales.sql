-- Sales: stock units, opportunities and their notes timeline, leads (with their
-- idempotency keys), meetings with participants, scheduled calls.

CREATE TABLE stock_units (
    id {{ID}},
    stock_number TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    branch_id BIGINT REFERENCES org_units(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX stock_units_number ON stock_units (stock_number);

CREATE TABLE opportunities (
    id {{ID}},
    name TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    lead_type TEXT,
    status TEXT NOT NULL,
    owner_id BIGINT REFERENCES users(id),
    branch_id BIGINT REFERENCES org_units(id),
    sale_date BIGINT,
    delivery_date BIGINT,
    expired BIGINT NOT NULL,
    expired_at BIGINT,
    trashed BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX opportunities_customer ON opportunities (customer_id, id);
CREATE INDEX opportunities_status ON opportunities (trashed, status, id);
CREATE INDEX opportunities_recent ON opportunities (trashed, id);
CREATE INDEX opportunities_owner ON opportunities (owner_id, trashed, status, id);
CREATE INDEX opportunities_branch ON opportunities (branch_id, trashed, status, id);
CREATE INDEX opportunities_expiry ON opportunities (expired, created_at, id);
-- A representative's (own) and a unit's list, most recent first, without sorting.
CREATE INDEX opportunities_owner_recent ON opportunities (owner_id, trashed, id);
CREATE INDEX opportunities_branch_recent ON opportunities (branch_id, trashed, id);

CREATE TABLE opportunity_stock_units (
    opportunity_id BIGINT NOT NULL REFERENCES opportunities(id) ON DELETE CASCADE,
    stock_unit_id BIGINT NOT NULL REFERENCES stock_units(id),
    PRIMARY KEY (opportunity_id, stock_unit_id)
);

CREATE TABLE opportunity_notes (
    id {{ID}},
    opportunity_id BIGINT NOT NULL REFERENCES opportunities(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    author_id BIGINT REFERENCES users(id),
    author_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX opportunity_notes_opportunity ON opportunity_notes (opportunity_id, id);

CREATE TABLE leads (
    id {{ID}},
    idempotency_key TEXT,
    lead_type TEXT NOT NULL,
    source TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    message TEXT NOT NULL,
    stock_number TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    opportunity_id BIGINT NOT NULL REFERENCES opportunities(id),
    outcome TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX leads_idempotency ON leads (idempotency_key);
CREATE INDEX leads_opportunity ON leads (opportunity_id);

CREATE TABLE meetings (
    id {{ID}},
    opportunity_id BIGINT NOT NULL REFERENCES opportunities(id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    location TEXT NOT NULL,
    priority TEXT NOT NULL,
    priority_overridden BIGINT NOT NULL,
    category TEXT NOT NULL,
    appointment_type TEXT,
    branch_id BIGINT REFERENCES org_units(id),
    language TEXT NOT NULL,
    deposit_method TEXT,
    esign_status TEXT,
    transfer BIGINT NOT NULL,
    status TEXT NOT NULL,
    description TEXT NOT NULL,
    owner_id BIGINT REFERENCES users(id),
    uid TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX meetings_opportunity ON meetings (opportunity_id, start_at);
CREATE INDEX meetings_branch ON meetings (branch_id, start_at);
CREATE INDEX meetings_owner ON meetings (owner_id, start_at);
CREATE INDEX meetings_start ON meetings (start_at);

CREATE TABLE meeting_stock_units (
    meeting_id BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    stock_unit_id BIGINT NOT NULL REFERENCES stock_units(id),
    PRIMARY KEY (meeting_id, stock_unit_id)
);

CREATE TABLE meeting_participants (
    meeting_id BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    ref_id BIGINT NOT NULL,
    PRIMARY KEY (meeting_id, kind, ref_id)
);
CREATE INDEX meeting_participants_ref ON meeting_participants (kind, ref_id, meeting_id);

CREATE TABLE calls (
    id {{ID}},
    opportunity_id BIGINT NOT NULL REFERENCES opportunities(id),
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
    updated_at BIGINT NOT NULL
);
CREATE INDEX calls_owner ON calls (owner_id, status, due_at);
CREATE INDEX calls_opportunity ON calls (opportunity_id, due_at);
CREATE INDEX calls_reminder ON calls (status, reminded_at, due_at);
