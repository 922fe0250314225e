-- Push mirrors (`crate::mirrors::push`): remotes a dataset is pushed to after each change, LFS
-- objects first, then its branches and tags.
CREATE TABLE push_mirrors (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    lfs_url TEXT,
    -- the Authorization header's value for the remote, sealed (`crate::auth::sealed`)
    credentials TEXT,
    -- pushes run as this account, which must still administer the dataset
    created_by BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- non-zero: rewritten branches are force-pushed; zero: such a push fails and says so
    force BIGINT NOT NULL DEFAULT 0,
    interval_secs BIGINT NOT NULL,
    -- 'new', 'ok' or 'failed'
    state TEXT NOT NULL DEFAULT 'new',
    next_at BIGINT NOT NULL,
    claimed_at BIGINT,
    claimed_until BIGINT,
    triggered_at BIGINT,
    last_attempt_at BIGINT,
    last_success_at BIGINT,
    last_error TEXT,
    failures BIGINT NOT NULL DEFAULT 0,
    -- JSON: the refs the last push left on the remote
    pushed_refs TEXT NOT NULL DEFAULT '{}',
    objects_pushed BIGINT NOT NULL DEFAULT 0,
    bytes_pushed BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX push_mirrors_by_next ON push_mirrors (next_at);
CREATE INDEX push_mirrors_by_repo ON push_mirrors (repo_id);
