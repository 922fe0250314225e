-- Files an engine put under a table's location (`.iceberg/{table}/…` through the S3 gateway) for
-- a commit through the Iceberg catalog (`crate::compat::iceberg::staged`): stored as objects of
-- the dataset but in no revision until the commit that names them; each user's own, forgotten
-- by the commit, and after a day by the background purge.
CREATE TABLE iceberg_staged (
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    oid TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (repo_id, user_id, key)
);
CREATE INDEX iceberg_staged_created ON iceberg_staged (created);
