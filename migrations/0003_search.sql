-- Search terms: the words of a record's searchable fields, folded (lower case, no
-- accents), one row per word, for indexed prefix search on every backend.

CREATE TABLE search_terms (
    entity_type TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    term TEXT {{BYTE_ORDER}} NOT NULL,
    PRIMARY KEY (entity_type, term, entity_id)
);
CREATE INDEX search_terms_entity ON search_terms (entity_type, entity_id);
