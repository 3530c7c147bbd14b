-- Lead routing: the last representative each branch's round robin gave a lead to. The row is
-- locked by the routing transaction, so simultaneous leads take turns.
CREATE TABLE lead_routing (
    branch_id BIGINT NOT NULL PRIMARY KEY REFERENCES org_units(id) ON DELETE CASCADE,
    last_user_id BIGINT NOT NULL
);
