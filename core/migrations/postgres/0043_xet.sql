-- Xet storage (`crate::xet`): the xorbs uploaded to a dataset, each kept as one of its objects
-- (`oid`, the sha256 of its serialized bytes, `size` of them) with the index of its chunks
-- (`strata_lfs::xet::xorb::index_bytes`), and the files whose reconstruction a shard recorded:
-- their Xet hash, the sha256 the shard claims for them (`claimed`), the sha256 strata found when
-- it read them back (`oid`, the LFS oid their pointers name: set once checked), their size and
-- their segments (`strata_lfs::xet::shard::segments_bytes`). Both go with their dataset.
CREATE TABLE xet_xorbs (
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    oid TEXT NOT NULL,
    size BIGINT NOT NULL,
    chunks BYTEA NOT NULL,
    PRIMARY KEY (repo_id, hash)
);

CREATE TABLE xet_files (
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    claimed TEXT,
    oid TEXT,
    size BIGINT NOT NULL,
    segments BYTEA NOT NULL,
    PRIMARY KEY (repo_id, hash)
);
CREATE INDEX xet_files_by_claim ON xet_files (repo_id, claimed);
CREATE INDEX xet_files_by_oid ON xet_files (repo_id, oid);

-- The chunks a dedup query may ask about (`crate::xet::dedup`): each file's first chunk and the
-- chunks the spec marks (their hash modulo 1,024 is 0), with the xorbs of the file they were found
-- in (space-separated), per dataset: a query never learns of another dataset's chunks.
CREATE TABLE xet_chunks (
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    chunk TEXT NOT NULL,
    xorbs TEXT NOT NULL,
    PRIMARY KEY (repo_id, chunk)
);
