-- Room a namespace's quota keeps for bytes on their way (`crate::quotas`): an object the LFS
-- batch API admitted, until the URLs handed out for it expire (`oid` its sha256), or a browser
-- or S3 multipart upload in progress (`oid` the upload's key). A reservation counts against the
-- namespace while it lives and its object is linked to none of the namespace's datasets; one
-- per namespace and key, so asking again for the same object counts it once.
CREATE TABLE quota_reservations (
    namespace TEXT NOT NULL,
    oid TEXT NOT NULL,
    size BIGINT NOT NULL CHECK (size >= 0),
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, oid)
);

-- One row per namespace, written first by every admission: writers of one namespace take turns
-- (a row lock on PostgreSQL; SQLite's write transactions take turns anyway).
CREATE TABLE quota_turns (
    namespace TEXT PRIMARY KEY,
    at BIGINT NOT NULL
);

-- The bytes each dataset keeps in git itself (files committed as plain content rather than as
-- LFS objects), counted toward its namespace's usage: added by each commit and push that brings
-- new content blobs.
CREATE TABLE git_bytes (
    repo_id BIGINT PRIMARY KEY REFERENCES repos(id) ON DELETE CASCADE,
    bytes BIGINT NOT NULL CHECK (bytes >= 0),
    updated_at BIGINT NOT NULL
);
