-- Objects erased from a dataset's whole history (`crate::erase`): a signed URL or a download
-- naming one answers 410.
CREATE TABLE erased_objects (
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    oid TEXT NOT NULL,
    erased_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, oid)
);
