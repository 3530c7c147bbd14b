-- Saved views of lists: a name and the list's filters, columns and sort, personal or
-- shared with the owner's team.

CREATE TABLE saved_views (
    id {{ID}},
    entity TEXT NOT NULL,
    name TEXT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    shared_unit_id BIGINT REFERENCES org_units(id),
    query TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX saved_views_owner ON saved_views (entity, owner_id);
CREATE INDEX saved_views_unit ON saved_views (entity, shared_unit_id);
