-- Push mirrors (`crate::mirrors::push`): remotes a dataset is pushed to after each change, LFS
-- objects first, then its branches and tags.
CREATE TABLE push_mirrors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    lfs_url TEXT,
    -- the Authorization header's value for the remote, sealed (`crate::auth::sealed`)
    credentials TEXT,
    -- pushes run as this account, which must still administer the dataset
    created_by INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- non-zero: rewritten branches are force-pushed; zero: such a push fails and says so
    force INTEGER NOT NULL DEFAULT 0,
    interval_secs INTEGER NOT NULL,
    -- 'new', 'ok' or 'failed'
    state TEXT NOT NULL DEFAULT 'new',
    next_at INTEGER NOT NULL,
    claimed_at INTEGER,
    claimed_until INTEGER,
    triggered_at INTEGER,
    last_attempt_at INTEGER,
    last_success_at INTEGER,
    last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    -- JSON: the refs the last push left on the remote
    pushed_refs TEXT NOT NULL DEFAULT '{}',
    objects_pushed INTEGER NOT NULL DEFAULT 0,
    bytes_pushed INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX push_mirrors_by_next ON push_mirrors (next_at);
CREATE INDEX push_mirrors_by_repo ON push_mirrors (repo_id);
