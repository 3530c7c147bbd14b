-- Customers (a person or a company) and the contacts of company customers.

CREATE TABLE customers (
    id {{ID}},
    kind TEXT NOT NULL,
    civility TEXT,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    company_name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    mobile TEXT,
    address TEXT NOT NULL,
    language TEXT NOT NULL,
    branch_id BIGINT REFERENCES org_units(id),
    owner_id BIGINT REFERENCES users(id),
    notes TEXT NOT NULL,
    particularities TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX customers_email ON customers (email);
CREATE INDEX customers_phone ON customers (phone);
CREATE INDEX customers_mobile ON customers (mobile);
CREATE INDEX customers_name ON customers (display_name, id);
CREATE INDEX customers_branch ON customers (branch_id, display_name, id);
CREATE INDEX customers_owner ON customers (owner_id, display_name, id);

CREATE TABLE contacts (
    id {{ID}},
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    civility TEXT,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    mobile TEXT,
    particularities TEXT NOT NULL,
    notes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX contacts_customer ON contacts (customer_id, last_name, id);
CREATE INDEX contacts_email ON contacts (email);
CREATE INDEX contacts_phone ON contacts (phone);
CREATE INDEX contacts_mobile ON contacts (mobile);
