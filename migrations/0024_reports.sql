-- Reports (issue 20): an opportunity's amount and expected close date, the dates it first
-- reached the funnel's stages (kept by the status workflow, so that the dashboards count
-- from indexes instead of reading the history), and a lead's first answer (speed to lead).

ALTER TABLE opportunities ADD COLUMN amount_cents BIGINT;
-- A date without a time of day: `YYYY-MM-DD`.
ALTER TABLE opportunities ADD COLUMN expected_close_on TEXT;
-- The first time the status took a flag `meeting_booked` / `showed`; the last loss
-- (cleared when the opportunity is taken up again).
ALTER TABLE opportunities ADD COLUMN booked_at BIGINT;
ALTER TABLE opportunities ADD COLUMN showed_at BIGINT;
ALTER TABLE opportunities ADD COLUMN lost_at BIGINT;
-- The first call logged, meeting booked or email sent on the lead's opportunity after it came in.
ALTER TABLE leads ADD COLUMN responded_at BIGINT;

-- "Rendez-vous présent / Walk-in" is the stage counted as shown up.
UPDATE value_lists SET allowed_flags = allowed_flags || ' showed'
 WHERE code = 'opportunity_status' AND allowed_flags NOT LIKE '%showed%';
UPDATE value_list_items SET flags = TRIM(flags || ' showed')
 WHERE list_code = 'opportunity_status' AND code = 'rdv_present' AND flags NOT LIKE '%showed%';

-- The stages of the opportunities already there, from their history.
UPDATE opportunities SET booked_at = (
  SELECT MIN(a.at) FROM audit_events a
   WHERE a.entity_type = 'opportunity' AND a.entity_id = opportunities.id AND a.field = 'status'
     AND a.new_value IN (SELECT i.code FROM value_list_items i
                          WHERE i.list_code = 'opportunity_status' AND (' ' || i.flags || ' ') LIKE '% meeting_booked %'));
UPDATE opportunities SET showed_at = (
  SELECT MIN(a.at) FROM audit_events a
   WHERE a.entity_type = 'opportunity' AND a.entity_id = opportunities.id AND a.field = 'status'
     AND a.new_value IN (SELECT i.code FROM value_list_items i
                          WHERE i.list_code = 'opportunity_status' AND (' ' || i.flags || ' ') LIKE '% showed %'));
UPDATE opportunities SET lost_at = updated_at
 WHERE status IN (SELECT i.code FROM value_list_items i
                   WHERE i.list_code = 'opportunity_status' AND (' ' || i.flags || ' ') LIKE '% lost %');
UPDATE leads SET responded_at = (
  SELECT MIN(c.done_at) FROM calls c WHERE c.opportunity_id = leads.opportunity_id AND c.done_at >= leads.created_at);

-- The dashboards' periods: each date a figure is counted by.
CREATE INDEX opportunities_created_at ON opportunities (created_at);
CREATE INDEX opportunities_sold_at ON opportunities (sale_date) WHERE sale_date IS NOT NULL;
CREATE INDEX opportunities_lost_at ON opportunities (lost_at) WHERE lost_at IS NOT NULL;
CREATE INDEX opportunities_booked_at ON opportunities (booked_at) WHERE booked_at IS NOT NULL;
CREATE INDEX opportunities_expired_at ON opportunities (expired_at) WHERE expired_at IS NOT NULL;
CREATE INDEX leads_created_at ON leads (created_at);
CREATE INDEX service_requests_created_at ON service_requests (created_at);
CREATE INDEX service_requests_closed_at ON service_requests (closed_at) WHERE closed_at IS NOT NULL;
