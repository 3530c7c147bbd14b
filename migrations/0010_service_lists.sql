-- The request list filtered by status alone or by type alone, newest first: an index walk
-- that stops after one page (the (status, request_type, id) index only serves both together).
CREATE INDEX service_requests_status_id ON service_requests (status, id);
CREATE INDEX service_requests_type_id ON service_requests (request_type, id);
