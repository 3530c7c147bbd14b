-- Customers at scale (a million customers and more).

-- The first page of a list filtered by kind, by name: an index walk that stops after one page.
CREATE INDEX customers_kind_name ON customers (kind, display_name, id);

-- A record's terms in order: the ranked search (search::ranked) probes, for each candidate,
-- whether another of its terms starts with a word, without reading the table. It replaces
-- the (entity_type, entity_id) index, which it covers.
CREATE INDEX search_terms_entity_term ON search_terms (entity_type, entity_id, term);
DROP INDEX search_terms_entity;
