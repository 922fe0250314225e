-- Shares: a user or a team gets read or write on a whole dataset (path '') or on one file or
-- folder inside it, optionally until an expiry (unix seconds). The gates evaluate them.
CREATE TABLE shares (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    team_id BIGINT REFERENCES teams(id) ON DELETE CASCADE,
    access TEXT NOT NULL CHECK (access IN ('read', 'write')),
    expires_at BIGINT,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    CHECK ((user_id IS NULL) <> (team_id IS NULL))
);
CREATE UNIQUE INDEX shares_user ON shares (repo_id, path, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX shares_team ON shares (repo_id, path, team_id) WHERE team_id IS NOT NULL;
CREATE INDEX shares_grantee ON shares (user_id);
CREATE INDEX shares_team_grantee ON shares (team_id);

-- Share links: a read-only link to a file or folder of a dataset's default branch that works
-- without an account. Only the sha256 of the link's secret is kept; the password is argon2id.
CREATE TABLE share_links (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    password_hash TEXT,
    expires_at BIGINT,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX share_links_repo ON share_links (repo_id);
