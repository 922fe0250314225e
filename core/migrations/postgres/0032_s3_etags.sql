-- The S3 ETag of each object the S3 gateway stored in a dataset (`crate::compat::s3::etags`):
-- the MD5 of its bytes (32 hex characters), or for a multipart upload the MD5 of its parts'
-- MD5s and their count (`{hex}-{parts}`), as S3 answers them. Objects stored any other way
-- (git-lfs, the browser, REST) have none. Dropped with the object's link.
CREATE TABLE s3_etags (
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    oid TEXT NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (repo_id, oid)
);
