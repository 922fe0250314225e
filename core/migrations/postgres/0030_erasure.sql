-- Objects erased from a dataset's whole history (`crate::erase`): a signed URL or a download
-- naming one answers 410.
CREATE TABLE erased_objects (
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    oid TEXT NOT NULL,
    erased_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, oid)
);

-- Each erasure, from before any ref moves: its paths and the objects they named, so one that
-- stopped half-way is finished by the next (its objects are erased then too).
CREATE TABLE erasures (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    paths TEXT NOT NULL,
    oids TEXT NOT NULL,
    started_by TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    report TEXT
);
