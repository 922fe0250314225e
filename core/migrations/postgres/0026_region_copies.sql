-- Residency copies: a table's governed view written once into the store of the region that
-- reads it (`--store`), never its raw bytes. A view kept in a region store names it.
ALTER TABLE table_views ADD COLUMN store TEXT;
-- What each copy was derived from: the source revision, resource and object, and the decision
-- of the policies (with their version) that made it.
CREATE TABLE region_copies (
    key TEXT PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    store TEXT NOT NULL,
    region TEXT NOT NULL,
    resource TEXT NOT NULL,
    revision TEXT NOT NULL,
    source_oid TEXT NOT NULL,
    decision TEXT NOT NULL,
    policies TEXT,
    oid TEXT NOT NULL,
    size BIGINT NOT NULL,
    rows BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX region_copies_repo ON region_copies (repo_id, created_at);
