-- Pre-sales requests (issue 19, seed 000): a partner asks the vendor's pre-sales team for an
-- intervention on one of their opportunities. The workflow is `presales::workflow::decide`;
-- `status` is one of its codes, `previous_status` the status a request waiting for information
-- returns to. Every read on the partner side is filtered by `partner_id` from the session.

CREATE TABLE presales_requests (
    id {{ID}},
    -- AV-2026-000123 (number_counters, name 'AV').
    number TEXT NOT NULL,
    partner_id BIGINT NOT NULL REFERENCES partners(id),
    partner_opportunity_id BIGINT NOT NULL REFERENCES partner_opportunities(id),
    -- The partner user who created it (the one invited to the accepted slot).
    created_by_user_id BIGINT REFERENCES partner_users(id),
    description TEXT NOT NULL,
    -- A code of the value list `presales_intervention_type`.
    intervention_type TEXT NOT NULL,
    on_site BIGINT NOT NULL,
    place TEXT,
    -- The desired date, a calendar date (YYYY-MM-DD).
    desired_date TEXT,
    preferred_engineer_id BIGINT REFERENCES users(id),
    engineer_id BIGINT REFERENCES users(id),
    status TEXT NOT NULL,
    previous_status TEXT,
    -- The reason of a refusal or a cancellation (shown to the partner).
    reason TEXT,
    -- The current round of proposals (0: none yet) and the slot the partner accepted.
    round BIGINT NOT NULL,
    accepted_slot_id BIGINT,
    -- The SEQUENCE of the invitation (grows with each REQUEST/CANCEL).
    invitation_sequence BIGINT NOT NULL,
    submitted_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX presales_requests_number ON presales_requests (number);
CREATE INDEX presales_requests_partner ON presales_requests (partner_id, id);
CREATE INDEX presales_requests_opportunity ON presales_requests (partner_opportunity_id, id);
CREATE INDEX presales_requests_status ON presales_requests (status, id);
CREATE INDEX presales_requests_engineer ON presales_requests (engineer_id, status, id);

-- Slot proposals: up to 3 per round; earlier rounds stay as history.
CREATE TABLE presales_slots (
    id {{ID}},
    request_id BIGINT NOT NULL REFERENCES presales_requests(id),
    round BIGINT NOT NULL,
    engineer_id BIGINT NOT NULL REFERENCES users(id),
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX presales_slots_request ON presales_slots (request_id, round, start_at);
CREATE INDEX presales_slots_engineer ON presales_slots (engineer_id, start_at);

-- The conversation of a request: the partner's expectations ("none fits"), the team's
-- questions and the partner's answers, refusal and cancellation reasons, notes.
CREATE TABLE presales_messages (
    id {{ID}},
    request_id BIGINT NOT NULL REFERENCES presales_requests(id),
    -- expectations | question | answer | reason | note
    kind TEXT NOT NULL,
    -- partner | team
    side TEXT NOT NULL,
    author_name TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id),
    partner_user_id BIGINT REFERENCES partner_users(id),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX presales_messages_request ON presales_messages (request_id, id);
