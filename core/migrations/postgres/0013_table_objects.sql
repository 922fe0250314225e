-- Objects that were ever the content of a table (a datapackage resource) on a revision of a
-- dataset's default branch: the resource's name and path, and one revision that held it. Raw
-- reads (raw, previews, share links, LFS) refuse such an object wherever it is now while a
-- policy governs that table. Filled by commits and pushes, and for older history once, on first
-- sight of a dataset.
CREATE TABLE table_objects (
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    oid TEXT NOT NULL,
    resource TEXT NOT NULL,
    path TEXT NOT NULL,
    rev TEXT NOT NULL,
    PRIMARY KEY (repo_id, oid, resource, path)
);
-- How far each dataset's default branch is in table_objects: its head when it was indexed.
CREATE TABLE table_index (
    repo_id BIGINT PRIMARY KEY REFERENCES repos(id) ON DELETE CASCADE,
    head TEXT NOT NULL
);
