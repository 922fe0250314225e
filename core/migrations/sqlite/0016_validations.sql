-- Contract reports: what checking a revision's tables against their Table Schemas found (the
-- violations name resources, rows and columns, never values), one per (dataset, revision).
CREATE TABLE validations (
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    revision TEXT NOT NULL,
    ok INTEGER NOT NULL,
    report TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, revision)
);
