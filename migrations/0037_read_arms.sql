-- Reads by the visibility's arms (issue 15).
-- The service dashboard of a user who does not see everything reads the visibility as arms
-- (`Visibility::request_arms`): the requests of the user's units, then their own requests
-- outside them, each walked in an index leading with the unit or the owner and holding every
-- column the figures read (as migration 34's indexes do for the whole table).
-- Opened over a period with their service levels (the unit's; the owner's).
CREATE INDEX service_requests_branch_created ON service_requests (branch_id, created_at, owner_id, first_update_at, first_update_due_at, closed_at, close_due_at);
CREATE INDEX service_requests_owner_created ON service_requests (owner_id, created_at, branch_id, first_update_at, first_update_due_at, closed_at, close_due_at, id);
-- Closed over a period.
CREATE INDEX service_requests_branch_closed ON service_requests (branch_id, closed_at, owner_id) WHERE closed_at IS NOT NULL;
CREATE INDEX service_requests_owner_closed ON service_requests (owner_id, closed_at, branch_id) WHERE closed_at IS NOT NULL;
-- The owner's open requests (the backlog; the unit's is migration 34's `service_requests_open`).
CREATE INDEX service_requests_owner_open ON service_requests (owner_id, status, request_type, created_at, branch_id) WHERE status <> 'cloture';
-- The returns opened over a period, with their request (its unit and owner then looked up by id).
CREATE INDEX equipment_returns_created ON equipment_returns (created_at, request_id, return_type);
-- The opportunities a representative takes part in as the meeting's rep (the board's and the
-- lists' taking-part arm, `Visibility::taking_part_ids`): from the index alone, where
-- `meetings_owner` (owner, start) read each meeting's row for its opportunity.
CREATE INDEX meetings_owner_opportunity ON meetings (owner_id, opportunity_id);
