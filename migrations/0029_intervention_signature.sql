-- The technician's day (issue 21): the customer's signature on an intervention (a PNG kept
-- as a document of the request), who signed and when; photos taken on site are documents of
-- the request that name the intervention they were taken at.
-- No foreign key to documents: documents already reference interventions (a cycle would keep
-- `carnet migrate-data` from ordering the tables); the code keeps a signature's document from
-- being deleted (409).
ALTER TABLE interventions ADD COLUMN signature_document_id BIGINT;
ALTER TABLE interventions ADD COLUMN signed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE interventions ADD COLUMN signed_at BIGINT;
ALTER TABLE documents ADD COLUMN intervention_id BIGINT REFERENCES interventions(id);
CREATE INDEX documents_intervention ON documents (intervention_id, id);
