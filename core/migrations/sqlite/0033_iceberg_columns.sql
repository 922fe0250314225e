-- The Iceberg field id of each column of each table the Iceberg catalog showed
-- (`crate::compat::iceberg`): given on first sight, 1, 2, 3… per table, and never changed, so a
-- column keeps its id across revisions, branches and callers. `path` is the column's path as a
-- JSON array of names (a nested field's parent first; a list's item is "element", a map's
-- "key" and "value").
CREATE TABLE iceberg_columns (
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    resource TEXT NOT NULL,
    path TEXT NOT NULL,
    field_id INTEGER NOT NULL,
    PRIMARY KEY (repo_id, resource, path),
    UNIQUE (repo_id, resource, field_id)
);
