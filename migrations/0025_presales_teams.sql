-- Pre-sales teams (issue 19): a pre-sales request belongs to one team, a staff group
-- (`user_groups`). It is set when the partner submits: the group the setting
-- `presales.type_teams` names for the intervention type, else the group named by
-- `presales.team_group`. A pre-sales engineer sees only the requests of the groups they are a
-- member of (and those without a team, when no team group exists); the right
-- `presales.all_teams` sees every team's. The filter is in SQL (`presales::store::Reach`).
ALTER TABLE presales_requests ADD COLUMN team_id BIGINT REFERENCES user_groups(id);
UPDATE presales_requests SET team_id = (
    SELECT g.id FROM user_groups g
    WHERE g.name = COALESCE((SELECT s.value FROM settings s WHERE s.key = 'presales.team_group'), 'Avant-vente')
) WHERE status <> 'brouillon';
CREATE INDEX presales_requests_team ON presales_requests (team_id, status, id);

-- Email replies to a pre-sales request's emails (its reply address or its thread) land on its
-- conversation (`presales_messages.kind = 'email'`); the inbound row names the request.
ALTER TABLE inbound_emails ADD COLUMN presales_request_id BIGINT REFERENCES presales_requests(id);
