-- The objects governed writes stored: what the policies made of a table under a decision (its
-- fingerprint: the column transforms and row filters). A merge, revert or push bringing such
-- an object back under the same decision needs no rewrite (rewriting it again would hash a
-- hashed column twice).
CREATE TABLE governed_writes (
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    oid TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, oid, fingerprint)
);
