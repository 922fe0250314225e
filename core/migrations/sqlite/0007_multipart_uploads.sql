-- Multipart uploads in progress in a bucket: one per (dataset, object), so a second batch resumes
-- the same upload. No foreign key: a deleted dataset's uploads stay listed until the idle purge
-- aborts them in the bucket.
CREATE TABLE multipart_uploads (
    repo_id INTEGER NOT NULL,
    oid TEXT NOT NULL,
    size INTEGER NOT NULL,
    nonce TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    touched_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, oid, size)
);
CREATE INDEX multipart_uploads_touched ON multipart_uploads (touched_at);
