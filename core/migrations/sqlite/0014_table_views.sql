-- Typed views of tables: a table's object read through one decision of the policies (or none),
-- stored once as Parquet (an object of the dataset's store, sealed when encryption is on), with
-- its row count and, once asked for, its column statistics. The key hashes everything the view
-- depends on (the object, its format and types, the decision's transforms), so a changed
-- decision finds no view of the old one: no read is ever served from a stale view.
CREATE TABLE table_views (
    key TEXT PRIMARY KEY,
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    oid TEXT NOT NULL,
    size INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    stats TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX table_views_by_repo ON table_views (repo_id);
