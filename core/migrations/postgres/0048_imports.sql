-- Import by reference (`crate::imports`): objects in an operator's bucket (`--import-source`)
-- adopted as a dataset's files without copying. Each was hashed once and is pinned to the ETag
-- (and version id, where the bucket keeps versions) it was hashed at: a read that finds it
-- changed is refused, never answered with other bytes. Its row goes with the object's.
CREATE TABLE object_refs (
    oid TEXT PRIMARY KEY REFERENCES objects(oid) ON DELETE CASCADE,
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT,
    version TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX object_refs_by_key ON object_refs (source, key);

-- One import: a prefix of a source adopted into a folder of a dataset's branch, as one commit.
CREATE TABLE imports (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    -- it runs as this account, which must still administer the dataset
    created_by BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    prefix TEXT NOT NULL,
    -- the folder the objects land in ('' for the root), on this branch
    path TEXT NOT NULL,
    branch TEXT NOT NULL,
    message TEXT NOT NULL,
    -- 'queued', 'running', 'done' or 'failed'
    state TEXT NOT NULL DEFAULT 'queued',
    -- a running import's lease; one that lapses is taken up again
    claimed_until BIGINT,
    objects BIGINT NOT NULL DEFAULT 0,
    hashed BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    -- objects already referenced at the same ETag, not hashed again
    reused BIGINT NOT NULL DEFAULT 0,
    revision TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX imports_by_repo ON imports (repo_id, id);
CREATE INDEX imports_by_state ON imports (state);
