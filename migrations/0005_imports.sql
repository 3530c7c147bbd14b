-- CSV imports: the uploaded file, the column mapping, progress and the per-row report.

CREATE TABLE imports (
    id {{ID}},
    kind TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id),
    filename TEXT NOT NULL,
    content TEXT NOT NULL,
    delimiter TEXT NOT NULL,
    encoding_note TEXT,
    headers TEXT NOT NULL,
    mapping TEXT NOT NULL,
    status TEXT NOT NULL,
    total BIGINT NOT NULL,
    processed BIGINT NOT NULL,
    created BIGINT NOT NULL,
    merged BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    report TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX imports_user ON imports (user_id, id);
