-- Service: requests with their customer updates, the customers' installed base (equipment)
-- and the equipment lines of a request with their symptoms.

CREATE TABLE service_requests (
    id {{ID}},
    number TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    requester_contact_id BIGINT REFERENCES contacts(id),
    user_contact_id BIGINT REFERENCES contacts(id),
    request_type TEXT NOT NULL,
    symptom TEXT,
    source TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    owner_id BIGINT REFERENCES users(id),
    branch_id BIGINT REFERENCES org_units(id),
    closed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX service_requests_number ON service_requests (number);
CREATE INDEX service_requests_customer ON service_requests (customer_id, id);
CREATE INDEX service_requests_status ON service_requests (status, request_type, id);
CREATE INDEX service_requests_recent ON service_requests (id);
CREATE INDEX service_requests_owner ON service_requests (owner_id, status, id);
CREATE INDEX service_requests_branch ON service_requests (branch_id, status, id);

-- The yearly sequences behind human-readable numbers (DEM-2026-000123, INT-…, RMA-…).
CREATE TABLE number_counters (
    name TEXT NOT NULL,
    year BIGINT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (name, year)
);

CREATE TABLE request_updates (
    id {{ID}},
    request_id BIGINT NOT NULL REFERENCES service_requests(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    notified BIGINT NOT NULL,
    author_id BIGINT REFERENCES users(id),
    author_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX request_updates_request ON request_updates (request_id, id);

CREATE TABLE equipment (
    id {{ID}},
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    serial_number TEXT NOT NULL,
    model TEXT NOT NULL,
    installed_on TEXT,
    location TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX equipment_customer ON equipment (customer_id, id);
CREATE UNIQUE INDEX equipment_serial ON equipment (customer_id, serial_number);

CREATE TABLE request_equipment (
    request_id BIGINT NOT NULL REFERENCES service_requests(id) ON DELETE CASCADE,
    equipment_id BIGINT NOT NULL REFERENCES equipment(id),
    symptom TEXT,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (request_id, equipment_id)
);
CREATE INDEX request_equipment_equipment ON request_equipment (equipment_id);

-- Interventions: scheduled field-service jobs created from a request.
CREATE TABLE interventions (
    id {{ID}},
    number TEXT NOT NULL,
    request_id BIGINT NOT NULL REFERENCES service_requests(id),
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    place TEXT NOT NULL,
    status TEXT NOT NULL,
    report_work TEXT NOT NULL,
    report_minutes BIGINT,
    branch_id BIGINT REFERENCES org_units(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX interventions_number ON interventions (number);
CREATE INDEX interventions_request ON interventions (request_id, id);
CREATE INDEX interventions_start ON interventions (start_at);
CREATE INDEX interventions_branch ON interventions (branch_id, start_at);

CREATE TABLE intervention_technicians (
    intervention_id BIGINT NOT NULL REFERENCES interventions(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (intervention_id, user_id)
);
CREATE INDEX intervention_technicians_user ON intervention_technicians (user_id, intervention_id);

CREATE TABLE intervention_equipment (
    intervention_id BIGINT NOT NULL REFERENCES interventions(id) ON DELETE CASCADE,
    equipment_id BIGINT NOT NULL REFERENCES equipment(id),
    symptom TEXT,
    PRIMARY KEY (intervention_id, equipment_id)
);

-- Equipment returns (RMA) created from a request.
CREATE TABLE equipment_returns (
    id {{ID}},
    number TEXT NOT NULL,
    request_id BIGINT NOT NULL REFERENCES service_requests(id),
    equipment_id BIGINT NOT NULL REFERENCES equipment(id),
    reason TEXT NOT NULL,
    return_type TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX equipment_returns_number ON equipment_returns (number);
CREATE INDEX equipment_returns_request ON equipment_returns (request_id, id);

-- Documents attached to a request: the file lives in the document storage under a
-- generated key; its metadata here.
CREATE TABLE documents (
    id {{ID}},
    request_id BIGINT NOT NULL REFERENCES service_requests(id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    storage_key TEXT NOT NULL,
    shared BIGINT NOT NULL,
    uploaded_by BIGINT REFERENCES users(id),
    uploaded_by_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX documents_request ON documents (request_id, id);
